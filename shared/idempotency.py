"""Idempotency-Keys that are true: a command taken under a key is published exactly once.

A key is claimed with the event it stands for, `pending` until Kafka acknowledged the event, then
`published`. A retry that finds the key pending (the first call died, or Kafka did not answer in
time) publishes the same event again, byte for byte, and answers only once Kafka acknowledged it;
consumers apply an event id once. The same key with another body is a 409
(`shared.api.app.publish_once`).
"""

import hashlib
from dataclasses import dataclass

from sqlalchemy import Column, Engine, MetaData, String, Table, Text, select, update
from sqlalchemy.exc import IntegrityError

from shared.events import Event

PENDING, PUBLISHED = "pending", "published"


def table(metadata: MetaData, name: str) -> Table:
    return Table(
        name, metadata,
        Column("scope", String(64), primary_key=True),  # whose keys: a tenant, or finance
        Column("key", String(200), primary_key=True),
        Column("body_sha256", String(64), nullable=False),
        Column("state", String(16), nullable=False),
        Column("topic", String(200), nullable=False),
        Column("message_key", String(200), nullable=False),
        Column("event", Text, nullable=False),
    )


@dataclass(frozen=True)
class Command:
    topic: str
    message_key: str
    event: Event


@dataclass(frozen=True)
class Taken:
    body_sha256: str
    state: str
    command: Command


def digest(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


class IdempotencyKeys:
    def __init__(self, engine: Engine, keys: Table):
        self.engine, self.keys = engine, keys

    def claim(self, scope: str, key: str, body_sha256: str, command: Command) -> Taken | None:
        """Take the key for `command`; if it was taken already, what it was taken for."""
        k = self.keys.c
        try:
            with self.engine.begin() as c:
                c.execute(self.keys.insert().values(scope=scope, key=key, body_sha256=body_sha256, state=PENDING,
                                                    topic=command.topic, message_key=command.message_key,
                                                    event=command.event.model_dump_json()))
            return None
        except IntegrityError:
            with self.engine.connect() as c:
                row = c.execute(select(self.keys).where(k.scope == scope, k.key == key)).one()
            return Taken(row.body_sha256, row.state, Command(row.topic, row.message_key,
                                                             Event.model_validate_json(row.event)))

    def published(self, scope: str, key: str) -> None:
        with self.engine.begin() as c:
            c.execute(update(self.keys).where(self.keys.c.scope == scope, self.keys.c.key == key)
                      .values(state=PUBLISHED))
