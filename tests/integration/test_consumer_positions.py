"""Where a consumer group stands, kept in its own database: moved with the batch's writes, refused
(and the writes rolled back) when another instance has handled the partition past the batch."""

import pytest
from aiokafka import TopicPartition
from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select

from shared.kafka.positions import Positions, Superseded, handled, spans
from tests.integration.ledger_databases import OnPostgres, OnSQLite

writes = Table("test_writes", MetaData(), Column("n", Integer, primary_key=True))
A, B = TopicPartition("it.requests", 0), TopicPartition("it.requests", 1)


class Record:  # what a handler sees of a message: where it is
    def __init__(self, tp: TopicPartition, offset: int):
        self.topic, self.partition, self.offset = tp.topic, tp.partition, offset


def records(tp: TopicPartition, *offsets: int) -> list[Record]:
    return [Record(tp, o) for o in offsets]


class PositionsContract:
    @pytest.fixture
    def positions(self, db):
        writes.metadata.create_all(db)
        return Positions(db, "hps-it", from_start=False)

    def write(self, db, positions: Positions, n: int, messages) -> None:
        with db.begin() as c:
            c.execute(insert(writes).values(n=n))
            positions.advance(c, spans(messages))

    def test_a_partition_resumes_after_the_last_batch_written(self, db, positions):
        assert positions.resume_at([A, B]) == {}  # never written: the group's committed offset decides
        assert Positions(db, "hps-gateway", from_start=True).resume_at([A]) == {A: 0}  # a projection rebuilds
        self.write(db, positions, 1, records(A, 0, 1, 2) + records(B, 7))
        self.write(db, positions, 2, records(A, 5, 6))  # a gap: offsets 3 and 4 compacted away or dead letters
        assert positions.resume_at([A, B]) == {A: 7, B: 8}
        assert Positions(db, "hps-hr", from_start=False).resume_at([A]) == {}  # another group's are its own

    def test_a_batch_behind_the_position_is_rolled_back_whole(self, db, positions):
        self.write(db, positions, 1, records(A, 0, 1, 2, 3))
        # An instance that lost the partition without knowing writes the batch it had fetched.
        with pytest.raises(Superseded):
            self.write(db, positions, 2, records(A, 2, 3, 4) + records(B, 0))
        with db.connect() as c:
            assert c.execute(select(func.count()).select_from(writes)).scalar() == 1
        assert positions.resume_at([A, B]) == {A: 4}

    def test_a_dead_letter_is_passed_once_and_never_moves_the_position_back(self, db, positions):
        self.write(db, positions, 1, records(A, 0, 1))
        positions.passed(records(A, 2))
        positions.passed(records(A, 2))  # again, after a crash: already passed, nothing changes
        positions.passed(records(A, 0))  # behind the position: its owner passed it long ago
        assert positions.resume_at([A]) == {A: 3}

    def test_a_fetch_begun_at_an_older_offset_is_trimmed_to_what_is_unhandled(self, db, positions):
        self.write(db, positions, 1, records(A, 0, 1, 2))
        # Fetched from the group's committed offset (1) before the stored position (3) was known.
        fetched = records(A, 1, 2, 3, 4) + records(B, 0)
        assert [(m.partition, m.offset) for m in positions.unhandled(fetched)] == [(0, 3), (0, 4), (1, 0)]
        self.write(db, positions, 2, positions.unhandled(fetched))  # and what is left passes the fence
        assert positions.resume_at([A, B]) == {A: 5, B: 1}

    def test_a_batch_passes_what_comes_before_its_first_refusal(self):
        batch = records(A, 10, 11, 12, 13)
        assert handled(batch, [batch[2]]) == {("it.requests", 0): (10, 12)}
        assert handled(batch, []) == {("it.requests", 0): (10, 14)}
        assert handled(batch, [batch[0]]) == {}


class TestPositionsOnSQLite(OnSQLite, PositionsContract):
    pass


class TestPositionsOnPostgres(OnPostgres, PositionsContract):
    pass
