"""The gateway's own data: the request read model fed by the services' events, and idempotency keys.

The read model is a projection: it can be dropped and rebuilt from the events topics, so its
tables are created from metadata rather than migrated.
"""

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    or_,
    select,
)

from shared import idempotency
from shared.api.auth import Principal
from shared.contracts import RequestSnapshot
from shared.db import upsert

metadata = MetaData()

request_views = Table(
    "gateway_request_views", metadata,
    Column("request_id", String(36), primary_key=True),
    Column("tenant", String(32), nullable=False),
    Column("service", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),
    Column("sla_breached", Boolean, nullable=False),
    Column("snapshot", Text, nullable=False),
    Column("refusal", Text),
    Index("ix_gateway_views_scope", "tenant", "service", "status", "submitted_at"),
)

# Where the read model is in each events partition, written with the rows it produced: the
# projection, not the consumer group, says what has been applied, so a new database starts over.
positions = Table(
    "gateway_positions", metadata,
    Column("topic", String(200), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", Integer, nullable=False),
)

idempotency_keys = idempotency.table(metadata, "gateway_idempotency")


def create(engine: Engine) -> None:
    metadata.create_all(engine)


def scoped(query, principal: Principal):
    """Every read of requests goes through here: partners see their tenant, staff their service."""
    if principal.role == "partner":
        return query.where(request_views.c.tenant == principal.tenant)
    if principal.role == "staff":
        return query.where(request_views.c.service == principal.service)
    return query


@dataclass
class View:
    tenant: str
    request: RequestSnapshot
    refusal: str | None

    def as_json(self) -> dict:
        return {"tenant": self.tenant, **self.request.model_dump(mode="json"), "last_refusal": self.refusal}


def _view(row) -> View:
    return View(row.tenant, RequestSnapshot.model_validate_json(row.snapshot), row.refusal)


class Requests:
    def __init__(self, engine: Engine):
        self.engine = engine

    def get(self, principal: Principal, request_id: str) -> View | None:
        with self.engine.connect() as c:
            row = c.execute(scoped(select(request_views), principal)
                            .where(request_views.c.request_id == request_id)).first()
        return _view(row) if row else None

    def page(self, principal: Principal, status: str | None, service: str | None, cursor: str | None,
             limit: int) -> tuple[list[View], str | None]:
        """Newest first; the cursor is where the previous page stopped."""
        v = request_views.c
        query = scoped(select(request_views), principal)
        if status:
            query = query.where(v.status == status)
        if service:
            query = query.where(v.service == service)
        if cursor:
            at, after_id = decode_cursor(cursor)
            query = query.where(or_(v.submitted_at < at, and_(v.submitted_at == at, v.request_id < after_id)))
        with self.engine.connect() as c:
            rows = c.execute(query.order_by(v.submitted_at.desc(), v.request_id.desc()).limit(limit + 1)).all()
        views = [_view(r) for r in rows[:limit]]
        more = len(rows) > limit
        return views, (encode_cursor(views[-1].request.submitted_at, str(views[-1].request.request_id)) if more else None)

    def positions(self) -> dict[tuple[str, int], int]:
        with self.engine.connect() as c:
            return {(r.topic, r.partition): r.next_offset for r in c.execute(select(positions))}

    def advance(self, c, topic: str, partition: int, offset: int) -> None:
        upsert(c, positions, {"topic": topic, "partition": partition}, {"next_offset": offset + 1})

    def apply(self, tenant: str, request: RequestSnapshot, at: tuple[str, int, int]) -> bool:
        """Upsert a snapshot unless a newer version is there already (events may be redelivered);
        `at` (topic, partition, offset) is recorded in the same transaction."""
        with self.engine.begin() as c:
            self.advance(c, *at)
            current = c.execute(select(request_views.c.version)
                                .where(request_views.c.request_id == str(request.request_id))).scalar()
            values = {"tenant": tenant, "service": request.service, "status": request.status.value,
                      "submitted_at": request.submitted_at, "version": request.version,
                      "sla_breached": request.sla_breached, "snapshot": request.model_dump_json(), "refusal": None}
            if current is None:
                c.execute(request_views.insert().values(request_id=str(request.request_id), **values))
            elif request.version > current:
                c.execute(request_views.update().where(request_views.c.request_id == str(request.request_id))
                          .values(**values))
            else:
                return False
        return True

    def refused(self, request_id: str, reason: str, at: tuple[str, int, int]) -> None:
        with self.engine.begin() as c:
            self.advance(c, *at)
            c.execute(request_views.update().where(request_views.c.request_id == request_id).values(refusal=reason))

    def skipped(self, at: tuple[str, int, int]) -> None:
        with self.engine.begin() as c:
            self.advance(c, *at)


def encode_cursor(at: datetime, request_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([at.isoformat(), request_id]).encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        at, request_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(at), str(UUID(request_id))
    except (ValueError, TypeError, AttributeError):
        raise ValueError("cursor: not a cursor this API returned") from None
