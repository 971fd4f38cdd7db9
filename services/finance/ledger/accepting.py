"""How the finance API takes a command: published once (under an Idempotency-Key), recorded with who
asked, and answered `202` with where its outcome is read, or, asked to wait, with the outcome."""

import json
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Header, Request
from fastapi.responses import JSONResponse

from services.finance.ledger.outcome import outcome, pending
from services.finance.ledger.repository import Books
from shared.api.app import publish_once
from shared.api.auth import Principal
from shared.api.outcomes import answer
from shared.events import Event
from shared.idempotency import Command

IdempotencyKey = Annotated[str | None, Header(max_length=200)]


def location(command_id: str) -> str:
    return f"/v1/finance/commands/{command_id}"


def taken(request: Request, scope: str, key: str | None) -> bool:
    """True if `key` was taken already. With the same body the call is a retry, answered as the first
    one was whatever has happened since; with another, `publish_once` answers 409. Either way the
    state the first call was checked against is not checked again."""
    if not key:
        return False
    with Books.reading(request.app.state.db) as books:
        return books.idempotency_body(scope, key) is not None


async def accept(request: Request, who: Principal, kind: str, subject: str, command: Command, scope: str,
                 key: str | None, body: str, wait: float, **ids) -> JSONResponse:
    """Publish `command` (once, under an Idempotency-Key), record it, and answer: pending, or, asked to
    wait, its outcome."""
    await publish_once(request, request.app.state.idempotency, scope, key, body, command, **ids)
    event: Event = command.event
    db = request.app.state.db
    with db.begin() as c:
        Books(c).add_command({"command_id": str(event.id), "kind": kind, "subject": subject, "tenant": event.tenant,
                              "requested_by": who.name, "requested_at": datetime.now(UTC),
                              "body": json.dumps(event.data, sort_keys=True)})
    where = location(str(event.id))
    return await answer(pending(str(event.id), where, kind, subject, **ids), where,
                        lambda: read(db, str(event.id)), wait)


def read(db, command_id: str, tenant: str | None = None):
    """The command's outcome; with `tenant`, only a command that tenant gave (a partner's own)."""
    with Books.reading(db) as books:
        found = books.command(command_id)
    if found and tenant is not None and (found["command"] or {}).get("tenant") != tenant:
        return None
    return outcome(found, location(command_id)) if found else None
