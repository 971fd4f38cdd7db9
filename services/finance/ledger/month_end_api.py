"""The finance API's month end: a period's state, draft statements, close, issued statements and
reconciliation. A shared cost that cannot be apportioned never makes these fail: previews and
reconciliations list it as a blocker, with what to do; a close answers 409 with the same list."""

from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from services.finance.ledger import render
from services.finance.ledger.closing import Blocker, PeriodBlocked, PeriodClosed
from services.finance.ledger.repository import Books
from shared.api.auth import Principal, PrincipalDep, require
from shared.api.errors import ApiError
from shared.fields import Code, Line, Period
from shared.money import PENNY

router = APIRouter()


def _scope_tenant(who: Principal, tenant: str | None) -> str | None:
    """Partners see only their own tenant; finance and ops may ask for any (or all)."""
    if who.role == "partner":
        return who.tenant
    if who.role == "staff":
        raise ApiError(403, "forbidden", "statements are for finance, ops and each partner")
    return tenant


def blocker(b: Blocker) -> dict:
    """A shared cost that stops the close: which, why, and what to do about it."""
    cost, path = b.cost, f"/v1/finance/shared-costs/{b.cost['cost_id']}"
    bases = [basis for basis in b.bases if basis != cost["basis"]]
    todo = (f"withdraw it (POST {path}/withdraw with a reason) or record it again on another basis "
            f"(POST {path}/rebasis with basis and reason)")
    todo += f"; bases that would apportion it now: {', '.join(bases)}" if bases else "; no basis would apportion it now"
    return {"cost_id": cost["cost_id"], "service": cost["service"], "description": cost["description"],
            "amount": str(Decimal(cost["amount"]).quantize(PENNY)), "basis": cost["basis"], "period": cost["period"],
            "reason": b.reason, "what_to_do": todo,
            "actions": [{"action": "withdraw", "method": "POST", "path": f"{path}/withdraw", "body": ["reason"]},
                        {"action": "rebasis", "method": "POST", "path": f"{path}/rebasis", "body": ["basis", "reason"],
                         "bases": bases}]}


@router.get("/periods/{period}")
async def period_status(period: Period, request: Request, who: PrincipalDep) -> dict:
    require(who, "finance", "ops")
    with Books.reading(request.app.state.db) as books:
        summary = books.period_summary(period)
    return {"period": period, **summary, "charges_total": str(summary["charges_total"]),
            "shared_costs_total": str(summary["shared_costs_total"])}


@router.get("/periods/{period}/preview")
async def preview(period: Period, request: Request, who: PrincipalDep, tenant: Code | None = None) -> dict:
    """Draft statements as they would be issued now, and the shared costs that would stop the close."""
    drafted = request.app.state.month_end.preview(period, _scope_tenant(who, tenant))
    return {"period": period, "statements": drafted.statements, "blockers": [blocker(b) for b in drafted.blockers]}


@router.post("/periods/{period}/close")
async def close(period: Period, request: Request, who: PrincipalDep) -> dict:
    require(who, "finance")
    try:
        issued = request.app.state.month_end.close(period, who.name)
    except PeriodClosed as exc:
        raise ApiError(409, "period_closed", str(exc)) from None
    except PeriodBlocked as exc:
        raise ApiError(409, "period_blocked", str(exc), blockers=[blocker(b) for b in exc.blockers]) from None
    return {"period": period, "statements": [_summary(s) for s in issued]}


def _summary(s: dict) -> dict:
    return {"number": s["statement_number"], "tenant": s["tenant"]["code"], "period": s["period"],
            "total": s["totals"]["total"], "content_sha256": s["content_sha256"]}


@router.get("/statements")
async def statements(request: Request, who: PrincipalDep, period: Period | None = None,
                     tenant: Code | None = None) -> list[dict]:
    with Books.reading(request.app.state.db) as books:
        return [_summary(s) for s in books.statements(period, _scope_tenant(who, tenant))]


@router.get("/statements/{number}")
async def statement(number: Line(100), request: Request, who: PrincipalDep,
                    format: Annotated[Literal["json", "csv", "pdf"], Query()] = "json") -> Response:
    with Books.reading(request.app.state.db) as books:
        content = books.statement(number, _scope_tenant(who, None))
    if content is None:  # another tenant's statement is as absent as one never issued
        raise ApiError(404, "not_found", f"no statement {number}")
    filename = f'attachment; filename="{number}.{format}"'
    if format == "csv":
        return Response(render.to_csv(content), media_type="text/csv", headers={"Content-Disposition": filename})
    if format == "pdf":
        return Response(render.to_pdf(content), media_type="application/pdf", headers={"Content-Disposition": filename})
    return JSONResponse(content)


@router.get("/periods/{period}/reconciliation")
async def reconciliation(period: Period, request: Request, who: PrincipalDep) -> dict:
    require(who, "finance", "ops")
    report = request.app.state.month_end.reconcile(period)
    return {"period": period, "balanced": report.balanced,
            "services": [{"service": r.service, **{name: str(getattr(r, name).quantize(PENNY)) for name in
                          ("direct_charges", "shared_costs", "recorded", "recharged", "difference")}}
                         for r in report.services],
            "blockers": [blocker(b) for b in report.blockers]}
