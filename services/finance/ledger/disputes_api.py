"""The finance API's disputes: a partner disputes a line of one of its issued statements; finance
accepts it (a credit note on the partner's next open statement) or rejects it, with a reason.

Each step is a command like any finance command: checked at once against the ledger's database
(services/finance/ledger/disputes.py, the rules the ledger applies again), published on
finance.disputes, and answered `202` with where its outcome is read, or with it under `?wait=N`.
Both sides read the dispute and its answer here; partners see their own only.
"""

import json
from decimal import Decimal
from typing import Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.finance.ledger import disputes
from services.finance.ledger.accepting import IdempotencyKey, accept, taken
from services.finance.ledger.entries import STATUS, Unpostable
from services.finance.ledger.repository import Books
from shared import ids
from shared.api.auth import Principal, PrincipalDep, require
from shared.api.errors import ApiError
from shared.api.outcomes import WaitSeconds
from shared.contracts import DisputeAccepted, DisputeRaised, DisputeRejected
from shared.contracts.names import DISPUTE_ACCEPTED, DISPUTE_RAISED, DISPUTE_REJECTED
from shared.fields import Code, Line, Period, Prose
from shared.idempotency import Command
from shared.topics import DISPUTES

router = APIRouter(prefix="/disputes")


class NewDispute(BaseModel):
    model_config = ConfigDict(extra="forbid")
    statement_number: Line(32) = Field(examples=["HPS-202610-00002"])
    line_id: UUID = Field(description="the charge_id or cost_id of the disputed line, as the statement shows it")
    reason: Prose(1000) = Field(examples=["Two laptops were charged; one was delivered"])


class Acceptance(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Prose(1000)
    credit: Decimal | None = Field(default=None, gt=0, le=100_000_000, decimal_places=2,
                                   description="the credit note's amount; without it, the whole disputed amount")


class Rejection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Prose(1000)


def refused(exc: Unpostable) -> ApiError:
    """The ledger's rule refusing, as the API answers it (a status per code: entries.STATUS)."""
    return ApiError(STATUS[exc.code], exc.code, exc.reason, **exc.detail)


def _pending(books: Books, kind: str, subject: str, code: str, what: str, tenant: str | None = None) -> None:
    if waiting := books.pending_command([kind], subject, tenant):
        raise ApiError(409, code, f"{what} is pending already (command {waiting['command_id']})",
                       command_id=waiting["command_id"])


@router.post("", status_code=202)
async def raise_dispute(body: NewDispute, request: Request, who: PrincipalDep, wait: WaitSeconds,
                        idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Dispute a line of one of your issued statements (a charge or a share of a shared cost), saying why."""
    require(who, "partner")
    tenant, line_id, raw = who.tenant, str(body.line_id), body.model_dump_json()
    scope = f"dispute-{tenant}"
    if not taken(request, scope, idempotency_key):
        with Books.reading(request.app.state.db, tenant) as books:
            try:
                disputes.disputable(books, tenant, body.statement_number, line_id)
            except Unpostable as exc:
                raise refused(exc) from None
            _pending(books, "dispute", line_id, "already_disputed", f"a dispute of line {line_id}", tenant)
    dispute_id = ids.derived(f"dispute/{tenant}/{idempotency_key}") if idempotency_key else uuid4()
    raised = DisputeRaised(dispute_id=dispute_id, raised_by=who.name, **body.model_dump())
    event = request.app.state.codec.build(DISPUTE_RAISED, "/hps/finance", tenant, raised, subject=str(dispute_id),
                                          id=ids.derived(f"event/{dispute_id}"))
    return await accept(request, who, "dispute", line_id, Command(DISPUTES, tenant, event), scope, idempotency_key,
                        raw, wait, dispute_id=str(dispute_id), statement_number=body.statement_number,
                        line_id=line_id)


async def _answer(request: Request, who: Principal, dispute_id: UUID, outcome: Literal["accept", "reject"],
                  reason: str, credit: Decimal | None, key: str | None, wait: float) -> JSONResponse:
    require(who, "finance")
    raw = json.dumps({"dispute_id": str(dispute_id), "outcome": outcome, "credit": str(credit), "reason": reason},
                     sort_keys=True)
    retry = taken(request, "finance-answer", key)
    with Books.reading(request.app.state.db) as books:
        try:
            dispute = disputes.answerable(books, str(dispute_id), None if retry else credit)
        except Unpostable as exc:
            if not (retry and exc.code == "already_answered"):
                raise refused(exc) from None
            [dispute] = books.disputes(dispute_id=str(dispute_id))
        if not retry:
            _pending(books, "answer", str(dispute_id), "already_answered", f"an answer to dispute {dispute_id}")
    request.state.audit_tenant = dispute["tenant"]  # the partner sees the answer in its audit trail too
    if outcome == "accept":
        event_type, answered = DISPUTE_ACCEPTED, DisputeAccepted(
            dispute_id=dispute_id, credit=credit or dispute["amount"], reason=reason, answered_by=who.name)
    else:
        event_type, answered = DISPUTE_REJECTED, DisputeRejected(dispute_id=dispute_id, reason=reason,
                                                                 answered_by=who.name)
    event = request.app.state.codec.build(event_type, "/hps/finance", dispute["tenant"], answered,
                                          subject=str(dispute_id), id=ids.derived(f"answer/{key}") if key else uuid4())
    return await accept(request, who, "answer", str(dispute_id), Command(DISPUTES, dispute["tenant"], event),
                        "finance-answer", key, raw, wait, dispute_id=str(dispute_id))


@router.post("/{dispute_id}/accept", status_code=202)
async def accept_dispute(dispute_id: UUID, body: Acceptance, request: Request, who: PrincipalDep,
                         wait: WaitSeconds, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Accept a dispute: a credit note (the whole disputed amount, or `credit`) on the partner's next
    open statement; a shared cost's credit is apportioned back to the other tenants that bore it."""
    return await _answer(request, who, dispute_id, "accept", body.reason, body.credit, idempotency_key, wait)


@router.post("/{dispute_id}/reject", status_code=202)
async def reject_dispute(dispute_id: UUID, body: Rejection, request: Request, who: PrincipalDep,
                         wait: WaitSeconds, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Reject a dispute, saying why; the statement stands."""
    return await _answer(request, who, dispute_id, "reject", body.reason, None, idempotency_key, wait)


def _scope(who: Principal, tenant: str | None) -> str | None:
    """Partners read their own disputes; finance and ops any tenant's (or all)."""
    require(who, "partner", "finance", "ops")
    return who.tenant if who.role == "partner" else tenant


@router.get("")
async def list_disputes(request: Request, who: PrincipalDep, tenant: Code | None = None, period: Period | None = None,
                        status: Literal["open", "accepted", "rejected"] | None = None) -> list[dict]:
    """Disputes, newest first, each with finance's answer once given."""
    scope = _scope(who, tenant)
    with Books.reading(request.app.state.db, scope if who.role == "partner" else None) as books:
        found = books.disputes(scope, period=period, status=status)
    return [disputes.shown(x) for x in found]


@router.get("/{dispute_id}")
async def dispute(dispute_id: UUID, request: Request, who: PrincipalDep) -> dict:
    scope = _scope(who, None)
    with Books.reading(request.app.state.db, scope) as books:
        found = books.disputes(scope, dispute_id=str(dispute_id))
    if not found:
        raise ApiError(404, "not_found", f"no dispute {dispute_id}")
    return disputes.shown(found[0])
