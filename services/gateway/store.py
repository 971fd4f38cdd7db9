"""The gateway's reads and the read model's writes: requests, their history, command outcomes."""

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import Connection, Engine, Table, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from services.gateway.tables import commands, history, positions, request_views
from shared.api.auth import Principal
from shared.contracts import PayrollCharged, RequestSnapshot, TransitionRefused
from shared.db import upsert


def scoped(query, principal: Principal, table: Table = request_views):
    """Every read of requests and commands goes through here: partners see their tenant, staff their service."""
    if principal.role == "partner":
        return query.where(table.c.tenant == principal.tenant)
    if principal.role == "staff":
        return query.where(table.c.service == principal.service)
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

    def history(self, request_id: str) -> list[dict]:
        """Every change of a request and every command refused on it, oldest first."""
        h = history.c
        with self.engine.connect() as c:
            rows = c.execute(select(history).where(h.request_id == request_id).order_by(h.at, h.version)).mappings()
            return [{"at": r["at"].replace(tzinfo=r["at"].tzinfo or UTC).isoformat(), "outcome": r["outcome"],
                     "action": r["action"], "actor": r["actor"], "status": r["status"], "version": r["version"],
                     "reason": r["reason"], "command_id": r["command_id"]} for r in rows]

    def apply(self, event_id: str, tenant: str, request: RequestSnapshot, at: tuple[str, int, int]) -> bool:
        """Upsert a snapshot unless a newer version is there already (events may be redelivered),
        with its line of history and the outcome of the command that made it; `at` (topic,
        partition, offset) is recorded in the same transaction."""
        change = request.change
        with self.engine.begin() as c:
            self.advance(c, *at)
            _record(c, {"event_id": event_id, "request_id": str(request.request_id), "at": request.updated_at,
                        "outcome": "applied", "action": change.action if change else "change",
                        "actor": change.actor if change else "", "status": request.status.value,
                        "version": request.version, "reason": request.status_reason,
                        "command_id": str(change.command_id) if change and change.command_id else None})
            if change and change.command_id:
                _decide(c, str(change.command_id), "applied", None, request_id=str(request.request_id), tenant=tenant,
                        service=request.service, action=change.action, actor=change.actor, at=request.updated_at)
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

    def refused(self, event_id: str, tenant: str, service: str, refusal: TransitionRefused,
                at: tuple[str, int, int]) -> None:
        """A command the worker refused: on the request as its last refusal, in its history, as the command's outcome."""
        request_id, when = str(refusal.request_id), refusal.refused_at or datetime.now(UTC)
        error = {"code": refusal.code, "message": refusal.reason, **({"field": refusal.field} if refusal.field else {}),
                 "status": refusal.status.value if refusal.status else None, "allowed": [a.value for a in refusal.allowed]}
        with self.engine.begin() as c:
            self.advance(c, *at)
            c.execute(request_views.update().where(request_views.c.request_id == request_id)
                      .values(refusal=refusal.reason))
            _record(c, {"event_id": event_id, "request_id": request_id, "at": when, "outcome": "refused",
                        "action": refusal.action.value, "actor": refusal.actor or "", "status": error["status"],
                        "version": None, "reason": refusal.reason,
                        "command_id": str(refusal.command_id) if refusal.command_id else None})
            if refusal.command_id:
                _decide(c, str(refusal.command_id), "refused", error, request_id=request_id, tenant=tenant,
                        service=service, action=refusal.action.value, actor=refusal.actor or "", at=when)

    def payroll_charged(self, tenant: str, charged: PayrollCharged, at: tuple[str, int, int]) -> None:
        """HR's answer to a tenant's payroll run: the run's command is applied, with what it charged."""
        with self.engine.begin() as c:
            self.advance(c, *at)
            _decide(c, str(charged.command_id), "applied", None, request_id=f"payroll/{charged.period}/{tenant}",
                    tenant=tenant, service="hr", action="payroll", actor="", at=datetime.now(UTC),
                    result=charged.model_dump(mode="json"))

    def skipped(self, at: tuple[str, int, int]) -> None:
        with self.engine.begin() as c:
            self.advance(c, *at)


def _record(c: Connection, line: dict) -> None:
    """A line of a request's history, once per event however often it is delivered."""
    if c.execute(select(history.c.event_id).where(history.c.event_id == line["event_id"])).first() is None:
        c.execute(insert(history).values(**line))


def _decide(c: Connection, command_id: str, state: str, error: dict | None, result: dict | None = None,
            **known) -> None:
    """The owner's decision on a command, whether or not the gateway that took it has recorded it yet."""
    decision = {"state": state, "decided_at": known["at"], "error": json.dumps(error) if error else None,
                "result": json.dumps(result) if result else None}
    if c.execute(update(commands).where(commands.c.command_id == command_id).values(**decision)).rowcount:
        return
    try:
        with c.begin_nested():
            c.execute(insert(commands).values(command_id=command_id, request_id=known["request_id"],
                                              tenant=known["tenant"], service=known["service"],
                                              action=known["action"], actor=known["actor"], **decision))
    except IntegrityError:  # the gateway recorded it as pending just now
        c.execute(update(commands).where(commands.c.command_id == command_id).values(**decision))


def encode_cursor(at: datetime, request_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([at.isoformat(), request_id]).encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        at, request_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(at), str(UUID(request_id))
    except (ValueError, TypeError, AttributeError):
        raise ValueError("cursor: not a cursor this API returned") from None
