"""A service worker's own state in its database: one row per entity (a request, a payroll run).

Held in SQL rather than in process memory so a restarted or replaced worker carries on exactly
where the last one stopped; `overdue_at` is indexed so the SLA clock finds late requests
without reading every row.
"""

import json
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Column, DateTime, Engine, Index, MetaData, String, Table, Text, select

from shared.db import create_tables, upsert_many
from shared.kafka.positions import Positions, Spans

metadata = MetaData()

worker_state = Table(
    "worker_state", metadata,
    Column("service", String(32), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("tenant", String(32), nullable=False),
    Column("state", Text, nullable=False),
    Column("overdue_at", DateTime(timezone=True)),  # when an open request passes its SLA; else null
    Index("ix_worker_state_overdue", "service", "overdue_at"),
)


class StateStore:
    def __init__(self, engine: Engine, service: str, positions: Positions):
        self.engine, self.service, self.positions = engine, service, positions
        create_tables(metadata, engine)

    def get_many(self, keys: Iterable[str]) -> dict[str, dict]:
        """The state of each of `keys` that has one."""
        t = worker_state.c
        with self.engine.connect() as c:
            rows = c.execute(select(t.key, t.state).where(t.service == self.service, t.key.in_(set(keys)))).all()
        return {r.key: json.loads(r.state) for r in rows}

    def put_many(self, states: Iterable[tuple[str, str, dict, datetime | None]], covered: Spans) -> None:
        """(key, tenant, state, overdue_at) of each changed entity, in one transaction with the
        positions past the messages that changed them (`Superseded` if another instance has passed
        them: then nothing is written)."""
        rows = [{"service": self.service, "key": key, "tenant": tenant, "state": json.dumps(state),
                 "overdue_at": overdue_at} for key, tenant, state, overdue_at in states]
        with self.engine.begin() as c:
            upsert_many(c, worker_state, rows, ("service", "key"))
            self.positions.advance(c, covered)

    def overdue(self, now: datetime, limit: int = 500) -> list[tuple[str, str]]:
        """(key, tenant) of open requests past their SLA target and not yet flagged."""
        t = worker_state.c
        with self.engine.connect() as c:
            rows = c.execute(select(t.key, t.tenant).where(t.service == self.service, t.overdue_at < now)
                             .order_by(t.overdue_at).limit(limit)).all()
        return [(r.key, r.tenant) for r in rows]
