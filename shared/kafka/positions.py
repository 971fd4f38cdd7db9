"""Where a consumer group stands in each partition, kept in the consumer's own database and moved
in the same transaction as what it wrote for those messages.

Whichever instance is assigned a partition resumes from there, so a rebalance neither loses nor
doubles a partition's work. An instance that lost its partitions without knowing (paused past its
session, cut off from the broker) cannot write over its successor's work: its transaction finds the
position moved past the start of its batch, raises `Superseded`, and is rolled back.
"""

from collections.abc import Iterable, Mapping, Sequence

from aiokafka import ConsumerRecord, TopicPartition
from sqlalchemy import BigInteger, Column, Connection, Engine, Integer, MetaData, String, Table, select, update

from shared.db import create_tables, inserted

metadata = MetaData()

positions = Table(
    "consumer_positions", metadata,
    Column("group_id", String(200), primary_key=True),
    Column("topic", String(249), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
)

Spans = dict[tuple[str, int], tuple[int, int]]  # (topic, partition): (first offset, the offset after the last)


class Superseded(RuntimeError):
    """Another instance has handled this partition past the start of the batch: it owns the partition
    now, and the batch's writes are rolled back."""


def spans(messages: Iterable[ConsumerRecord]) -> Spans:
    """The offsets each partition's `messages` (in order) cover."""
    covered: Spans = {}
    for m in messages:
        first, _ = covered.get((m.topic, m.partition), (m.offset, 0))
        covered[m.topic, m.partition] = (first, m.offset + 1)
    return covered


def handled(messages: Sequence[ConsumerRecord], refused: Iterable[ConsumerRecord]) -> Spans:
    """What a handler's transaction passes: its messages up to the first it refused. A refused
    message is passed once its dead letter is sent (`Positions.passed`); the rest of the batch, if
    handled again after a crash, is applied once."""
    first_refused = min((m.offset for m in refused), default=None)
    return spans(m for m in messages if first_refused is None or m.offset < first_refused)


class Positions:
    def __init__(self, engine: Engine, group: str, from_start: bool):
        """`from_start`: a partition with no stored position is read from its beginning (a projection
        on a new database rebuilds itself); otherwise from the group's committed offset."""
        self.engine, self.group, self.from_start = engine, group, from_start
        create_tables(metadata, engine)

    def resume_at(self, assigned: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """Where each assigned partition resumes; one absent from the answer keeps the group's offset."""
        stored = self._stored()
        resume = {tp: stored.get((tp.topic, tp.partition), 0 if self.from_start else None) for tp in assigned}
        return {tp: offset for tp, offset in resume.items() if offset is not None}

    def unhandled(self, messages: Sequence[ConsumerRecord]) -> list[ConsumerRecord]:
        """Those of `messages` at or past where the group stands. aiokafka starts fetching a newly
        assigned partition from the group's committed offset while the rebalance listener is still
        reading the stored position, so a fetch may begin with messages handled already: handled
        again on newer state, their outputs would be published and then rolled back with the rest."""
        stored = self._stored()
        return [m for m in messages if m.offset >= stored.get((m.topic, m.partition), 0)]

    def _stored(self) -> dict[tuple[str, int], int]:
        p = positions.c
        with self.engine.connect() as c:
            return {(r.topic, r.partition): r.next_offset
                    for r in c.execute(select(p.topic, p.partition, p.next_offset).where(p.group_id == self.group))}

    def advance(self, c: Connection, covered: Mapping[tuple[str, int], tuple[int, int]]) -> None:
        """In the transaction that wrote what the messages `covered` made: move each partition past them."""
        p = positions.c
        for (topic, partition), (first, after) in covered.items():
            # A gap below `first` is fine (a dead letter not recorded, a compacted offset); a position past it is not.
            moved = c.execute(update(positions).where(p.group_id == self.group, p.topic == topic,
                                                      p.partition == partition, p.next_offset <= first)
                              .values(next_offset=after)).rowcount
            if not moved and not inserted(c, positions, {"group_id": self.group, "topic": topic,
                                                         "partition": partition, "next_offset": after},
                                          ("group_id", "topic", "partition")):
                raise Superseded(f"{topic}[{partition}] is past offset {first}: another instance took it over")

    def passed(self, messages: Sequence[ConsumerRecord]) -> None:
        """Move past messages that wrote nothing (dead letters), so a restart does not refuse them again."""
        try:
            with self.engine.begin() as c:
                self.advance(c, spans(messages))
        except Superseded:
            pass  # its new owner has passed them already
