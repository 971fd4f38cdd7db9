"""Replaying a dead letter: the original message back onto its topic, once, with an audit record."""

from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from sqlalchemy import Column, DateTime, Engine, Integer, MetaData, String, Table, insert, select
from sqlalchemy.exc import IntegrityError

from services.ops.observer import DeadLetter
from shared.db import create_tables

metadata = MetaData()

replays = Table(
    "ops_replays", metadata,
    Column("dead_letter_id", String(40), primary_key=True),
    Column("source_topic", String(200), nullable=False),
    Column("source_partition", Integer, nullable=False),
    Column("source_offset", Integer, nullable=False),
    Column("reason", String(4000), nullable=False),
    Column("replayed_by", String(200), nullable=False),
    Column("replayed_at", DateTime(timezone=True), nullable=False),
)


class AlreadyReplayed(ValueError):
    pass


class Replays:
    def __init__(self, engine: Engine):
        self.engine = engine
        create_tables(metadata, engine)

    async def replay(self, letter: DeadLetter, producer: AIOKafkaProducer, who: str) -> dict:
        """Audit first, in the same transaction that waits for the broker: a failed send leaves no record,
        and a second replay of the same dead letter is refused."""
        record = {"dead_letter_id": letter.id, "source_topic": letter.source_topic,
                  "source_partition": letter.source_partition, "source_offset": letter.source_offset,
                  "reason": letter.reason[:4000], "replayed_by": who, "replayed_at": datetime.now(UTC)}
        with self.engine.begin() as c:
            try:
                c.execute(insert(replays), record)
            except IntegrityError:
                raise AlreadyReplayed(f"dead letter {letter.id} was replayed already") from None
            headers = [(k, v) for k, v in letter.headers if not k.startswith("hps_dlq_")]
            await producer.send_and_wait(letter.source_topic, letter.value, key=letter.key, headers=headers)
        return {**record, "replayed_at": record["replayed_at"].isoformat()}

    def audit(self) -> list[dict]:
        with self.engine.connect() as c:
            rows = c.execute(select(replays).order_by(replays.c.replayed_at.desc())).mappings().all()
        return [{**r, "replayed_at": r["replayed_at"].isoformat()} for r in rows]

    def replayed(self) -> set[str]:
        with self.engine.connect() as c:
            return set(c.execute(select(replays.c.dead_letter_id)).scalars())
