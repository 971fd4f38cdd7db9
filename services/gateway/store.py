"""The gateway's reads and the read model's writes: requests, their history, command outcomes."""

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import Connection, Engine, Table, and_, or_, select

from services.gateway.tables import commands, history, request_views
from shared.api.auth import Principal
from shared.contracts import PayrollCharged, RequestSnapshot, TransitionRefused
from shared.db import as_tenant, insert_new, upsert_many
from shared.kafka.positions import Positions, Spans


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
    def __init__(self, engine: Engine, positions: Positions):
        """`positions`: the read model's in each events partition, written with the rows they produced."""
        self.engine, self.positions = engine, positions

    @contextmanager
    def _reading(self, principal: Principal) -> Iterator[Connection]:
        """A connection that sees a partner's own tenant only, whatever its queries ask (row-level security)."""
        with self.engine.connect() as c:
            as_tenant(c, principal.tenant)
            yield c

    def get(self, principal: Principal, request_id: str) -> View | None:
        with self._reading(principal) as c:
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
        with self._reading(principal) as c:
            rows = c.execute(query.order_by(v.submitted_at.desc(), v.request_id.desc()).limit(limit + 1)).all()
        views = [_view(r) for r in rows[:limit]]
        more = len(rows) > limit
        return views, (encode_cursor(views[-1].request.submitted_at, str(views[-1].request.request_id)) if more else None)

    def history(self, principal: Principal, request_id: str) -> list[dict]:
        """Every change of a request and every command refused on it, oldest first."""
        h = history.c
        with self._reading(principal) as c:
            rows = c.execute(select(history).where(h.request_id == request_id).order_by(h.at, h.version)).mappings()
            return [{"at": r["at"].replace(tzinfo=r["at"].tzinfo or UTC).isoformat(), "outcome": r["outcome"],
                     "action": r["action"], "actor": r["actor"], "status": r["status"], "version": r["version"],
                     "reason": r["reason"], "command_id": r["command_id"]} for r in rows]

    def write(self, projection: "Projection") -> None:
        """A batch's changes in one transaction, with where each partition is now. Redelivered events
        change nothing: a history line is written once per event, a view only by a newer version."""
        with self.engine.begin() as c:
            insert_new(c, history, list(projection.history.values()), ("event_id",))
            upsert_many(c, commands, list(projection.decisions.values()), ("command_id",), changing=DECISION)
            upsert_many(c, request_views, list(projection.views.values()), ("request_id",),
                        only_if=lambda table, new: table.c.version < new.version)
            for request_id, reason in projection.refusals.items():
                c.execute(request_views.update().where(request_views.c.request_id == request_id).values(refusal=reason))
            self.positions.advance(c, projection.covered)


# What the owner's decision sets on a command row the gateway may have written first.
DECISION = ("state", "decided_at", "error", "result")


class Projection:
    """What a batch of events makes of the read model, gathered in their order; Requests.write
    stores it. The last word on each request, command and history line is the one kept."""

    def __init__(self):
        self.history: dict[str, dict] = {}
        self.decisions: dict[str, dict] = {}
        self.views: dict[str, dict] = {}
        self.refusals: dict[str, str] = {}  # a refusal after the batch's last change of the request
        self.covered: Spans = {}  # the offsets the batch passes (shared/kafka/positions.py)

    def applied(self, event_id: str, tenant: str, request: RequestSnapshot) -> None:
        """A request's new version, its line of history, and the outcome of the command that made it."""
        request_id, change = str(request.request_id), request.change
        self._line(event_id, request_id, request.updated_at, "applied", change.action if change else "change",
                   change.actor if change else "", request.status.value, request.version, request.status_reason,
                   change.command_id if change else None)
        if change and change.command_id:
            self._decide(str(change.command_id), "applied", None, None, request_id=request_id, tenant=tenant,
                         service=request.service, action=change.action, actor=change.actor, at=request.updated_at)
        current = self.views.get(request_id)
        if current is None or request.version > current["version"]:
            self.views[request_id] = {
                "request_id": request_id, "tenant": tenant, "service": request.service,
                "status": request.status.value, "submitted_at": request.submitted_at, "version": request.version,
                "sla_breached": request.sla_breached, "snapshot": request.model_dump_json(), "refusal": None}
            self.refusals.pop(request_id, None)

    def refused(self, event_id: str, tenant: str, service: str, refusal: TransitionRefused) -> None:
        """A command the worker refused: on the request as its last refusal, in its history, as the command's outcome."""
        request_id, when = str(refusal.request_id), refusal.refused_at or datetime.now(UTC)
        error = {"code": refusal.code, "message": refusal.reason, **({"field": refusal.field} if refusal.field else {}),
                 "status": refusal.status.value if refusal.status else None, "allowed": [a.value for a in refusal.allowed]}
        self.refusals[request_id] = refusal.reason
        self._line(event_id, request_id, when, "refused", refusal.action.value, refusal.actor or "", error["status"],
                   None, refusal.reason, refusal.command_id)
        if refusal.command_id:
            self._decide(str(refusal.command_id), "refused", error, None, request_id=request_id, tenant=tenant,
                         service=service, action=refusal.action.value, actor=refusal.actor or "", at=when)

    def payroll_charged(self, tenant: str, charged: PayrollCharged) -> None:
        """HR's answer to a tenant's payroll run: the run's command is applied, with what it charged."""
        self._decide(str(charged.command_id), "applied", None, charged.model_dump(mode="json"),
                     request_id=f"payroll/{charged.period}/{tenant}", tenant=tenant, service="hr", action="payroll",
                     actor="", at=datetime.now(UTC))

    def _line(self, event_id, request_id, at, outcome, action, actor, status, version, reason, command_id) -> None:
        self.history.setdefault(event_id, {
            "event_id": event_id, "request_id": request_id, "at": at, "outcome": outcome, "action": action,
            "actor": actor, "status": status, "version": version, "reason": reason,
            "command_id": str(command_id) if command_id else None})

    def _decide(self, command_id: str, state: str, error: dict | None, result: dict | None, **known) -> None:
        """The owner's decision on a command, whether or not the gateway that took it has recorded it yet."""
        self.decisions[command_id] = {
            "command_id": command_id, "request_id": known["request_id"], "tenant": known["tenant"],
            "service": known["service"], "action": known["action"], "actor": known["actor"], "state": state,
            "decided_at": known["at"], "error": json.dumps(error) if error else None,
            "result": json.dumps(result) if result else None}


def encode_cursor(at: datetime, request_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([at.isoformat(), request_id]).encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        at, request_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(at), str(UUID(request_id))
    except (ValueError, TypeError, AttributeError):
        raise ValueError("cursor: not a cursor this API returned") from None
