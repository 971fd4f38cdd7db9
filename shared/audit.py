"""The audit trail: who did what, for which tenant, from where, and how it ended.

Every command an API answers (any call but a read) and every refused caller (401, 403, 429) is
appended to `audit_log` before the answer leaves: actor, role, tenant, action, subject, source
address, outcome, status and reason. The table is append-only for the application
(shared/privileges.py). All API processes write to one database (HPS_DATABASE_URL; in
development a SQLite file of the state dir), so `GET /v1/audit` reads them all."""

from collections.abc import Sequence
from datetime import UTC, datetime

import orjson
from sqlalchemy import Column, DateTime, Engine, Integer, MetaData, SmallInteger, String, Table, Text, insert

from shared.db import GroupCommit
from shared.logging import get_logger

log = get_logger("audit")
metadata = MetaData()
audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("service", String(32), nullable=False),  # the API that answered
    Column("actor", String(200), nullable=False),  # the principal's name; "anonymous" without one
    Column("role", String(16)),
    Column("tenant", String(32), index=True),  # the partner's, or the tenant the command names
    Column("action", String(200), nullable=False),  # e.g. "POST /v1/requests/{request_id}/transitions approve"
    Column("subject", String(200)),  # the ids in its path: request, period, cost, dead letter
    Column("source", String(64)),  # the caller's address (through the gateway: X-Forwarded-For)
    Column("outcome", String(16), nullable=False),  # accepted, refused or failed
    Column("status", SmallInteger, nullable=False),
    Column("reason", Text),  # a refusal's message, or the reason the command gives
)
READS = {"GET", "HEAD", "OPTIONS"}
REFUSALS = {401, 403, 429}
BODY_LIMIT = 64 * 1024  # what is read of a command for its reason, tenant and action


class AuditLog:
    """Entries written by concurrent requests in one transaction each few milliseconds."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.writes = GroupCommit(self._store)

    def _store(self, rows: list[dict]) -> None:
        with self.engine.begin() as c:
            c.execute(insert(audit_log), rows)

    async def record(self, **entry) -> None:
        await self.writes.add({"at": datetime.now(UTC), **entry})


class Audited:
    """Plain ASGI middleware (see shared/api/app.py Timing): records commands and refused callers.
    `passed_on`: path prefixes the process hands to another service that records them itself."""

    def __init__(self, app, service: str, passed_on: Sequence[str] = ()):
        self.app, self.service, self.passed_on = app, service, tuple(passed_on)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        method, body, held, sent = scope["method"], bytearray(), None, bytearray()
        command = method not in READS

        async def receiving():
            message = await receive()
            if command and message["type"] == "http.request" and len(body) < BODY_LIMIT:
                body.extend(message.get("body", b"")[:BODY_LIMIT - len(body)])
            return message

        async def sending(message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                status = message["status"]
                if not self._recorded(scope, command, status):
                    pass
                elif status < 400:
                    await self._record(scope, status, bytes(body), None)
                else:  # an error's message is its reason: held until its body is here
                    held = message
                    return
            elif held is not None:
                sent.extend(message.get("body", b""))
                if message.get("more_body"):
                    return
                await self._record(scope, held["status"], bytes(body), bytes(sent))
                await send(held)
                held = None
                message = {**message, "body": bytes(sent)}
            await send(message)

        try:
            await self.app(scope, receiving, sending)
        except Exception:
            if self._recorded(scope, command, 500):
                await self._record(scope, 500, bytes(body), None)
            raise

    def _recorded(self, scope, command: bool, status: int) -> bool:
        if scope["path"].startswith(self.passed_on) and status != 429:
            return False  # the service behind records it, with the same caller
        return command or status in REFUSALS

    async def _record(self, scope, status: int, request: bytes, answer: bytes | None) -> None:
        who = scope.get("state", {}).get("principal")
        asked, error = _json(request), _json(answer).get("error", {}) if answer else {}
        action = f"{scope['method']} {_template(scope)}"
        if isinstance(asked.get("action"), str):
            action += f" {asked['action'][:40]}"
        # The tenant the command concerns: the route's word (finance answering a partner), the caller's, the body's.
        tenant = scope.get("state", {}).get("audit_tenant") or (who.tenant if who is not None and who.tenant
                                                                 else asked.get("tenant"))
        try:
            await scope["app"].state.audit.record(
                service=self.service, actor=who.name if who is not None else "anonymous",
                role=who.role if who is not None else None, tenant=tenant if isinstance(tenant, str) else None,
                action=action[:200], subject=",".join(str(v) for v in scope.get("path_params", {}).values())[:200]
                or None, source=(scope.get("client") or ("unknown",))[0][:64],
                outcome="accepted" if status < 400 else "refused" if status < 500 else "failed", status=status,
                reason=str(error.get("message") or asked.get("reason") or "")[:2000] or None)
        except Exception as exc:  # noqa: BLE001  the answer stands; the gap is logged for operations
            log.error("audit_not_recorded", path=scope["path"], status=status, error=repr(exc)[:300])


def _template(scope) -> str:
    """The path with its ids named, as the API documents it: /v1/finance/periods/{period}/close."""
    named = {str(value): name for name, value in scope.get("path_params", {}).items()}
    return "/".join(f"{{{named[part]}}}" if part in named else part for part in scope["path"].split("/"))


def _json(raw: bytes | None) -> dict:
    try:
        found = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        return {}
    return found if isinstance(found, dict) else {}
