"""The commands the gateway accepted and what became of them, as callers read them at their Location."""

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.exc import InterfaceError, OperationalError

from services.gateway.store import Requests, scoped
from services.gateway.tables import commands
from shared.api.auth import Principal
from shared.api.outcomes import Outcome, Waiters
from shared.db import GroupCommit, upsert_many

# The status an API answers each of the workers' refusals with.
HTTP_STATUS = {"illegal_transition": 409, "invalid": 422, "not_found": 404}


def location(command_id: str) -> str:
    return f"/v1/commands/{command_id}"


@dataclass(frozen=True)
class Submitted:
    """What the gateway knows for certain of a request it accepted: whose it is, of what type."""

    tenant: str
    service: str
    request_type: str


class Commands:
    def __init__(self, engine: Engine, requests: Requests):
        self.engine, self.requests = engine, requests
        self.waiters = Waiters()  # woken by this process's read model
        self._pending = GroupCommit(self._record)

    async def pending(self, command_id: str, request_id: str, tenant: str, service: str, action: str, actor: str,
                      requested_at: datetime, request_type: str | None = None) -> Outcome:
        """Record a command just published; if its owner has decided already, that stands. Returns
        the command as pending, as its caller is first told."""
        await self._pending.add({"command_id": command_id, "request_id": request_id, "tenant": tenant,
                                   "service": service, "request_type": request_type, "action": action,
                                   "actor": actor, "requested_at": requested_at, "state": "pending"})
        return Outcome("pending", {"command_id": command_id, "state": "pending", "location": location(command_id),
                                   "request_id": request_id, "action": action, "requested_by": actor,
                                   "requested_at": _iso(requested_at), "decided_at": None, "result": None,
                                   "error": None})

    def _record(self, rows: list[dict]) -> None:
        # Decided first (the read model was quicker): keep the decision, add what only the gateway
        # knows. A retry of a recorded command changes nothing.
        rows = list({row["command_id"]: row for row in rows}.values())
        with self.engine.begin() as c:
            upsert_many(c, commands, rows, ("command_id",), changing=("requested_at", "request_type"),
                        only_if=lambda table, new: table.c.requested_at.is_(None))

    def decided(self, command_ids: list[str]) -> list[str]:
        """Those of `command_ids` whose owner has decided; none while the database cannot say (the
        callers wait on, and are answered pending at the end of their wait)."""
        try:
            with self.engine.connect() as c:
                return list(c.execute(select(commands.c.command_id).where(
                    commands.c.command_id.in_(command_ids), commands.c.state != "pending")).scalars())
        except (OperationalError, InterfaceError):
            return []

    def submitted(self, principal: Principal, request_id: str) -> Submitted | None:
        """A request this caller may see that the gateway accepted, before the read model shows it."""
        c_ = commands.c
        with self.engine.connect() as c:
            row = c.execute(scoped(select(c_.tenant, c_.service, c_.request_type), principal, commands).where(
                c_.request_id == request_id, c_.action == "submit", c_.request_type.is_not(None))).first()
        return Submitted(row.tenant, row.service, row.request_type) if row else None

    def outcome(self, principal: Principal, command_id: str) -> Outcome | None:
        with self.engine.connect() as c:
            row = c.execute(scoped(select(commands), principal, commands)
                            .where(commands.c.command_id == command_id)).mappings().first()
        if row is None:
            return None
        error = json.loads(row["error"]) if row["error"] else None
        result = json.loads(row["result"]) if row["result"] else None
        if row["state"] == "applied" and result is None:
            view = self.requests.get(principal, row["request_id"])
            result = view.as_json() if view else None
        resource = {"command_id": command_id, "state": row["state"], "location": location(command_id),
                    "request_id": row["request_id"], "action": row["action"], "requested_by": row["actor"],
                    "requested_at": _iso(row["requested_at"]), "decided_at": _iso(row["decided_at"]),
                    "result": result, "error": error}
        return Outcome(row["state"], resource, error, HTTP_STATUS.get(error["code"], 409) if error else 200)


def _iso(at: datetime | None) -> str | None:
    return at.replace(tzinfo=at.tzinfo or UTC).isoformat() if at else None
