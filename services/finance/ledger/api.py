"""The finance API: shared costs, corrections, previews, period close, statements, reconciliation."""

import json
from contextlib import contextmanager
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID, uuid4, uuid5

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from services.finance.ledger import render
from services.finance.ledger import tables as t
from services.finance.ledger.closing import PeriodClosed
from services.finance.ledger.entries import Unpostable, check_period
from shared.api.app import publish, publish_once
from shared.api.auth import Principal, PrincipalDep, require
from shared.api.errors import ApiError
from shared.contracts import ChargeRecorded, SharedCostRecorded
from shared.contracts.names import CHARGE_RECORDED, SHARED_COST_RECORDED
from shared.fields import Code, Line, Period, Prose
from shared.idempotency import Command
from shared.money import PENNY, round_pence
from shared.request_engine import lifecycle
from shared.topics import CHARGES, SERVICES, SHARED_COSTS

router = APIRouter(prefix="/v1/finance")


class NewSharedCost(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service: Code = Field(examples=["it"])
    description: Prose(500) = Field(examples=["Network contract, October"])
    amount: Decimal = Field(gt=0, le=100_000_000, decimal_places=2, examples=["18500.00"])
    period: Period
    basis: Literal["staff", "sites", "budget", "fixed", "usage"]


class Correction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    charge_id: UUID
    amount: Decimal = Field(ge=0, le=100_000_000, decimal_places=2)
    quantity: Decimal | None = Field(default=None, gt=0, decimal_places=2)
    reason: Prose(500)


@router.post("/shared-costs", status_code=202)
async def record_shared_cost(body: NewSharedCost, request: Request, who: PrincipalDep,
                             idempotency_key: Annotated[str | None, Header(max_length=200)] = None) -> dict:
    """Record a cost of the shared unit, to be apportioned between the tenants of its period."""
    require(who, "finance")
    if body.service not in SERVICES:
        raise ApiError(422, "invalid", f"unknown service {body.service!r}", "service")
    try:
        check_period(request.app.state.registry, body.period)
    except Unpostable as exc:
        raise ApiError(422, "invalid", str(exc), "period") from None
    cost_id = uuid5(lifecycle.NAMESPACE, f"shared-cost/{idempotency_key}") if idempotency_key else uuid4()
    cost = SharedCostRecorded(cost_id=cost_id, recorded_by=who.name, **body.model_dump())
    event = request.app.state.codec.build(SHARED_COST_RECORDED, "/hps/finance",
                                          request.app.state.registry.unit.code, cost, subject=str(cost_id),
                                          id=uuid5(lifecycle.NAMESPACE, f"event/{cost_id}"))
    command = Command(SHARED_COSTS, body.service, event)
    await publish_once(request, request.app.state.idempotency, "finance", idempotency_key, body.model_dump_json(),
                       command, cost_id=str(cost_id))
    return {"cost_id": str(cost_id), "status": "accepted"}


@router.post("/corrections", status_code=202)
async def correct(body: Correction, request: Request, who: PrincipalDep) -> dict:
    """Replace a posted charge: the ledger reverses it and posts the corrected one, on the next open statement."""
    require(who, "finance")
    with request.app.state.db.connect() as c:
        original = c.execute(select(t.charges).where(t.charges.c.charge_id == str(body.charge_id))).mappings().first()
        # The charge that replaced it, if it was corrected already: the ledger would refuse a second.
        replacement = c.execute(select(t.charges.c.charge_id).where(t.charges.c.corrects == str(body.charge_id))
                                .limit(1)).scalar()
    if original is None:
        raise ApiError(404, "not_found", f"no charge {body.charge_id}")
    if replacement:
        raise ApiError(409, "already_corrected", f"charge {body.charge_id} was corrected already by charge "
                                                 f"{replacement}; correct that one instead", corrected_by=replacement)
    quantity = body.quantity or Decimal(original["quantity"])
    correction = ChargeRecorded(
        charge_id=uuid4(), service=original["service"], request_type=original["request_type"], kind="correction",
        quantity=quantity, unit_price=round_pence(body.amount / quantity), amount=body.amount,
        cost_centre=original["cost_centre"], period=original["period"], request_id=original["request_id"],
        description=f"Correction: {body.reason}"[:200], corrects=original["charge_id"])
    event = request.app.state.codec.build(CHARGE_RECORDED, "/hps/finance", original["tenant"],
                                          correction, subject=original["charge_id"])
    await publish(request, CHARGES, event, original["tenant"])
    return {"charge_id": str(correction.charge_id), "corrects": original["charge_id"], "status": "accepted"}


def _scope_tenant(who: Principal, tenant: str | None) -> str | None:
    """Partners see only their own tenant; finance and ops may ask for any (or all)."""
    if who.role == "partner":
        return who.tenant
    if who.role == "staff":
        raise ApiError(403, "forbidden", "statements are for finance, ops and each partner")
    return tenant


@router.get("/periods/{period}")
async def period_status(period: Period, request: Request, who: PrincipalDep) -> dict:
    require(who, "finance", "ops")
    with request.app.state.db.connect() as c:
        status = c.execute(select(t.periods.c.status).where(t.periods.c.period == period)).scalar() or "open"
        charges = c.execute(select(func.count(), func.coalesce(func.sum(t.charges.c.amount), 0))
                            .where(t.charges.c.period == period)).one()
        costs = c.execute(select(func.count(), func.coalesce(func.sum(t.shared_costs.c.amount), 0))
                          .where(t.shared_costs.c.period == period)).one()
    return {"period": period, "status": status, "charges": charges[0], "charges_total": str(charges[1]),
            "shared_costs": costs[0], "shared_costs_total": str(costs[1])}


@contextmanager
def _month_end():
    """What stops a month end is the period's state, not the caller's input: a 409 that says why."""
    try:
        yield
    except PeriodClosed as exc:
        raise ApiError(409, "period_closed", str(exc)) from None
    except Unpostable as exc:  # a shared cost its basis cannot split (a usage basis nobody used)
        raise ApiError(409, "cannot_apportion", f"{exc}; the period cannot be drafted, reconciled or closed "
                                                "until this cost is corrected") from None


@router.get("/periods/{period}/preview")
async def preview(period: Period, request: Request, who: PrincipalDep, tenant: Code | None = None) -> list[dict]:
    """Draft statements as they would be issued now."""
    with _month_end():
        return request.app.state.month_end.preview(period, _scope_tenant(who, tenant))


@router.post("/periods/{period}/close")
async def close(period: Period, request: Request, who: PrincipalDep) -> dict:
    require(who, "finance")
    with _month_end():
        issued = request.app.state.month_end.close(period, who.name)
    return {"period": period, "statements": [_summary(s) for s in issued]}


def _summary(s: dict) -> dict:
    return {"number": s["statement_number"], "tenant": s["tenant"]["code"], "period": s["period"],
            "total": s["totals"]["total"], "content_sha256": s["content_sha256"]}


@router.get("/statements")
async def statements(request: Request, who: PrincipalDep, period: Period | None = None,
                     tenant: Code | None = None) -> list[dict]:
    tenant = _scope_tenant(who, tenant)
    query = select(t.statements.c.body).order_by(t.statements.c.sequence)
    if period:
        query = query.where(t.statements.c.period == period)
    if tenant:
        query = query.where(t.statements.c.tenant == tenant)
    with request.app.state.db.connect() as c:
        return [_summary(json.loads(body)) for body in c.execute(query).scalars()]


@router.get("/statements/{number}")
async def statement(number: Line(100), request: Request, who: PrincipalDep,
                    format: Annotated[Literal["json", "csv", "pdf"], Query()] = "json") -> Response:
    tenant = _scope_tenant(who, None)
    query = select(t.statements.c.body).where(t.statements.c.number == number)
    if tenant:
        query = query.where(t.statements.c.tenant == tenant)
    with request.app.state.db.connect() as c:
        body = c.execute(query).scalar()
    if body is None:  # another tenant's statement is as absent as one never issued
        raise ApiError(404, "not_found", f"no statement {number}")
    content = json.loads(body)
    filename = f'attachment; filename="{number}.{format}"'
    if format == "csv":
        return Response(render.to_csv(content), media_type="text/csv", headers={"Content-Disposition": filename})
    if format == "pdf":
        return Response(render.to_pdf(content), media_type="application/pdf", headers={"Content-Disposition": filename})
    return JSONResponse(content)


@router.get("/periods/{period}/reconciliation")
async def reconciliation(period: Period, request: Request, who: PrincipalDep) -> dict:
    require(who, "finance", "ops")
    with _month_end():
        rows = request.app.state.month_end.reconcile(period)
    return {"period": period, "balanced": all(r.difference == 0 for r in rows),
            "services": [{"service": r.service, **{name: str(getattr(r, name).quantize(PENNY)) for name in
                          ("direct_charges", "shared_costs", "recorded", "recharged", "difference")}} for r in rows]}
