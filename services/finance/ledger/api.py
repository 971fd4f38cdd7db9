"""The finance API's commands: shared costs (and credits), corrections, withdrawals and re-bases,
and their outcomes. The month end and statements are in month_end_api.

Every command is checked here against what the ledger's database already knows (a charge corrected
already, a cost its basis cannot apportion, a cost withdrawn already) and refused at once; what
passes is published, recorded as a command, and answered `202` with where its outcome is read:
`pending` until the ledger applies or refuses it. `?wait=N` or `Prefer: wait=N` waits for that.
"""

import json
from decimal import Decimal
from uuid import UUID, uuid4

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.finance.ledger import disputes_api, month_end_api
from services.finance.ledger.accepting import IdempotencyKey, accept, location, read, taken
from services.finance.ledger.apportionment import why_not
from services.finance.ledger.entries import STATUS, CorrectionError, Unpostable, check_period, corrected
from services.finance.ledger.repository import Books
from shared import ids
from shared.api.auth import Principal, PrincipalDep, require
from shared.api.errors import ApiError
from shared.api.outcomes import WaitSeconds, not_found, settle
from shared.contracts import Basis, ChargeRecorded, SharedCostRecorded, SharedCostWithdrawn
from shared.contracts.finance import amount_problem
from shared.contracts.names import CHARGE_RECORDED, SHARED_COST_RECORDED, SHARED_COST_WITHDRAWN
from shared.fields import Code, Period, Prose
from shared.idempotency import Command
from shared.topics import CHARGES, SERVICES, SHARED_COSTS

router = APIRouter(prefix="/v1/finance")
router.include_router(month_end_api.router)
router.include_router(disputes_api.router)


class NewSharedCost(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service: Code = Field(examples=["it"])
    description: Prose(500) = Field(examples=["Network contract, October"])
    amount: Decimal = Field(ge=-100_000_000, le=100_000_000, decimal_places=2, examples=["18500.00"],
                            description="a cost; negative for a credit or refund, which needs a reason")
    period: Period
    basis: Basis
    reason: Prose(500) | None = Field(default=None, description="why: required for a credit or refund")


class Correction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    charge_id: UUID
    amount: Decimal | None = Field(default=None, ge=0, le=100_000_000, decimal_places=2,
                                   description="the corrected amount; without it, unit price × quantity")
    quantity: Decimal | None = Field(default=None, gt=0, le=1_000_000, decimal_places=2,
                                     description="the corrected quantity; without it, the charge's own")
    reason: Prose(500)


class Withdrawal(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Prose(500)


class Rebasis(BaseModel):
    model_config = ConfigDict(extra="forbid")
    basis: Basis
    reason: Prose(500)


def _apportionable(request: Request, books: Books, service: str, basis: str, period: str) -> None:
    """422 naming the basis and why, if a cost of `service` on `basis` cannot be apportioned in `period`."""
    usage = books.usage(service, period) if basis == "usage" else None
    if why := why_not(request.app.state.registry, basis, period, usage, books.is_closed(period)):
        raise ApiError(422, "cannot_apportion", f"basis {basis} cannot apportion this cost in {period}: {why}",
                       "basis")


@router.post("/shared-costs", status_code=202)
async def record_shared_cost(body: NewSharedCost, request: Request, who: PrincipalDep, wait: WaitSeconds,
                             idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Record a cost of the shared unit (or, negative, a credit), apportioned between the tenants of
    its period at close."""
    require(who, "finance")
    if body.service not in SERVICES:
        raise ApiError(422, "invalid", f"unknown service {body.service!r}", "service")
    if problem := amount_problem(body.amount, body.reason):
        raise ApiError(422, "invalid", ": ".join(problem), problem[0])
    raw = body.model_dump_json()
    if not taken(request, "finance", idempotency_key):
        try:
            check_period(request.app.state.registry, body.period)
        except Unpostable as exc:
            raise ApiError(422, "invalid", str(exc), "period") from None
        with Books.reading(request.app.state.db) as books:
            _apportionable(request, books, body.service, body.basis, body.period)
    cost_id = ids.derived(f"shared-cost/{idempotency_key}") if idempotency_key else uuid4()
    cost = SharedCostRecorded(cost_id=cost_id, recorded_by=who.name, **body.model_dump())
    event = request.app.state.codec.build(SHARED_COST_RECORDED, "/hps/finance",
                                          request.app.state.registry.unit.code, cost, subject=str(cost_id),
                                          id=ids.derived(f"event/{cost_id}"))
    return await accept(request, who, "shared_cost", str(cost_id), Command(SHARED_COSTS, body.service, event),
                         "finance", idempotency_key, raw, wait, cost_id=str(cost_id))


@router.post("/corrections", status_code=202)
async def correct(body: Correction, request: Request, who: PrincipalDep, wait: WaitSeconds,
                  idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Replace a posted charge: the ledger reverses it and posts the corrected one, on the next open
    statement. The unit price is kept where that is exact: a quantity alone is charged at it; an
    amount that is no whole-penny unit price keeps it too, and the line says the amount was set by hand."""
    require(who, "finance")
    raw = body.model_dump_json()
    retry = taken(request, "finance-correction", idempotency_key)
    with Books.reading(request.app.state.db) as books:
        original = books.charge(str(body.charge_id))
        if original is None:
            raise ApiError(404, "not_found", f"no charge {body.charge_id}")
        # Pending before done: a command the ledger decides between the two reads is then seen as done.
        waiting = books.pending_command(["correction"], original["charge_id"])
        corrected_by = books.correction_of(original["charge_id"])
    try:
        quantity, unit_price, amount, by_hand = corrected(Decimal(original["unit_price"]),
                                                          Decimal(original["quantity"]), body.amount, body.quantity)
    except CorrectionError as exc:
        raise ApiError(422, "invalid", str(exc), exc.field) from None
    if not retry and corrected_by:
        raise ApiError(409, "already_corrected", f"charge {body.charge_id} was corrected already by charge "
                                                 f"{corrected_by}; correct that one instead", corrected_by=corrected_by)
    if not retry and waiting:
        replacement = json.loads(waiting["body"])["charge_id"]
        raise ApiError(409, "already_corrected", f"charge {body.charge_id} is being corrected already by charge "
                                                 f"{replacement} (command {waiting['command_id']}); correct that one "
                                                 "once it is applied", corrected_by=replacement,
                       command_id=waiting["command_id"])
    charge_id = ids.derived(f"correction/{idempotency_key}") if idempotency_key else uuid4()
    correction = ChargeRecorded(
        charge_id=charge_id, service=original["service"], request_type=original["request_type"], kind="correction",
        quantity=quantity, unit_price=unit_price, amount=amount, amount_set_by_hand=by_hand,
        cost_centre=original["cost_centre"], period=original["period"], request_id=original["request_id"],
        description=f"Correction: {body.reason}"[:200], corrects=original["charge_id"])
    event = request.app.state.codec.build(CHARGE_RECORDED, "/hps/finance", original["tenant"], correction,
                                          subject=original["charge_id"], id=ids.derived(f"event/{charge_id}"))
    return await accept(request, who, "correction", original["charge_id"],
                         Command(CHARGES, original["tenant"], event), "finance-correction", idempotency_key, raw, wait,
                         charge_id=str(charge_id), corrects=original["charge_id"])


def _withdrawable(request: Request, books: Books, cost_id: str, retry: bool) -> dict:
    """The cost to withdraw (as recorded, or as its pending command names it): 404 if there is none,
    409 if it was withdrawn already or a withdrawal of it is pending."""
    cost = books.shared_cost(cost_id)
    if cost is None:
        waiting = books.pending_command(["shared_cost"], cost_id)
        if waiting is None:
            raise ApiError(404, "not_found", f"no shared cost {cost_id}")
        cost = {**json.loads(waiting["body"]), "apportioned": 0}
    if retry:
        return cost
    # Pending before done, as for corrections.
    waiting = books.pending_command(["withdrawal", "rebasis"], cost_id)
    if done := books.withdrawal(cost_id):
        raise ApiError(409, "already_withdrawn", f"shared cost {cost_id} was withdrawn already"
                       + (f" and recorded again as {done['replacement_id']}" if done["replacement_id"] else ""),
                       replacement_id=done["replacement_id"])
    if waiting:
        raise ApiError(409, "already_withdrawn", f"a withdrawal of shared cost {cost_id} is pending "
                                                 f"(command {waiting['command_id']})", command_id=waiting["command_id"])
    return cost


async def _withdraw(request: Request, who: Principal, cost_id: UUID, reason: str, basis: str | None, key: str | None,
                    wait: float) -> JSONResponse:
    require(who, "finance")
    kind = "rebasis" if basis else "withdrawal"
    raw = json.dumps({"cost_id": str(cost_id), "reason": reason, "basis": basis}, sort_keys=True)
    retry = taken(request, f"finance-{kind}", key)
    with Books.reading(request.app.state.db) as books:
        cost = _withdrawable(request, books, str(cost_id), retry)
        if basis and not retry:
            if basis == cost["basis"]:
                raise ApiError(422, "invalid", f"shared cost {cost_id} is on basis {basis} already", "basis")
            _apportionable(request, books, cost["service"], basis, cost["period"])
    event_id = ids.derived(f"{kind}/{key}") if key else uuid4()
    replacement_id = ids.derived(f"replacement/{event_id}") if basis else None
    withdrawn = SharedCostWithdrawn(cost_id=cost_id, service=cost["service"], reason=reason, withdrawn_by=who.name,
                                    rebasis=basis, replacement_id=replacement_id)
    event = request.app.state.codec.build(SHARED_COST_WITHDRAWN, "/hps/finance", request.app.state.registry.unit.code,
                                          withdrawn, subject=str(cost_id), id=event_id)
    named = {"cost_id": str(cost_id), **({"replacement_id": str(replacement_id)} if replacement_id else {})}
    return await accept(request, who, kind, str(cost_id), Command(SHARED_COSTS, cost["service"], event),
                         f"finance-{kind}", key, raw, wait, **named)


@router.post("/shared-costs/{cost_id}/withdraw", status_code=202)
async def withdraw(cost_id: UUID, body: Withdrawal, request: Request, who: PrincipalDep, wait: WaitSeconds,
                   idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Take a shared cost back: if not yet apportioned it stops counting; if apportioned, each share
    is reversed on the next open statement. Nothing is updated or deleted."""
    return await _withdraw(request, who, cost_id, body.reason, None, idempotency_key, wait)


@router.post("/shared-costs/{cost_id}/rebasis", status_code=202)
async def rebasis(cost_id: UUID, body: Rebasis, request: Request, who: PrincipalDep, wait: WaitSeconds,
                  idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Withdraw a shared cost and record it again on another basis (under `replacement_id`), at once."""
    return await _withdraw(request, who, cost_id, body.reason, body.basis, idempotency_key, wait)


@router.get("/commands/{command_id}")
async def command(command_id: UUID, request: Request, who: PrincipalDep, wait: WaitSeconds) -> JSONResponse:
    """A finance command (or any event the ledger was sent) and its outcome: pending, applied (with
    what was posted) or refused (with the reason). With ?wait=N, answers once decided or after N s.
    A partner reads the commands it gave (its disputes); another's are as absent as none."""
    require(who, "finance", "ops", "partner")
    where, own = location(str(command_id)), who.tenant if who.role == "partner" else None
    found = read(request.app.state.db, str(command_id), own)
    if found is None:
        raise not_found(str(command_id))
    decided = await settle(found, lambda: read(request.app.state.db, str(command_id), own), wait)
    return JSONResponse(decided.resource, 200, headers={"Location": where})


# The commands a caller may wait for answer the ledger's refusal with the status of its code: for
# the API document (shared.api.docs.describe's `decided`).
DECIDED = {endpoint: STATUS for endpoint in (record_shared_cost, correct, withdraw, rebasis, disputes_api.raise_dispute,
                                            disputes_api.accept_dispute, disputes_api.reject_dispute,
                                            disputes_api.refused)}
