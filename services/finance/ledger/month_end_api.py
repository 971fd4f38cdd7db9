"""The finance API's month end: a period's state, draft statements, close, issued statements and
reconciliation. A shared cost that cannot be apportioned never makes these fail: previews and
reconciliations list it as a blocker, with what to do; a close answers 409 with the same list.

An issued statement is served from its stored, sealed text: as it is (JSON), or read a line at a
time (CSV, PDF); a list of statements reads none of them.
"""

from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from services.finance.ledger import closing_queries, render, verification
from services.finance.ledger.apportionment import ApportionmentError, weights
from services.finance.ledger.closing import Blocker, PeriodBlocked, PeriodClosed
from services.finance.ledger.repository import Books
from services.finance.ledger.statement_text import Issued, pieces
from shared import metrics
from shared.api.auth import Principal, PrincipalDep, require
from shared.api.errors import ApiError
from shared.db import as_tenant
from shared.fields import Code, Line, Period
from shared.logging import get_logger
from shared.money import PENNY

router = APIRouter()
log = get_logger("finance-ledger")


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
    return {"period": period, "statements": [_summary(s["statement_number"], s["tenant"]["code"], s["period"],
                                                      s["totals"]["total"], s["content_sha256"]) for s in issued]}


def _summary(number: str, tenant: str, period: str, total: str, content_sha256: str, **signed) -> dict:
    return {"number": number, "tenant": tenant, "period": period, "total": total, "content_sha256": content_sha256,
            **signed}


def _signed(s) -> dict:
    """What checks a statement's signature and its place in the tenant's chain (docs/verify_statement.py)."""
    return {"sequence": s.sequence, "body_sha256": s.body_sha256, "signature": s.signature,
            "previous_signature": s.previous_signature, "key_id": s.key_id}


@router.get("/statements")
async def statements(request: Request, who: PrincipalDep, period: Period | None = None,
                     tenant: Code | None = None) -> list[dict]:
    """The issued statements, each with its signature: `hps finance verify` checks them with the
    published key (`/v1/finance/statement-keys`)."""
    with request.app.state.db.connect() as c:
        as_tenant(c, who.tenant)
        issued = closing_queries.issued(c, period, _scope_tenant(who, tenant))
    return [_summary(s.number, s.tenant, s.period, str(s.total), s.content_sha256, **_signed(s)) for s in issued]


@router.get("/statement-keys", include_in_schema=False)
async def statement_keys(request: Request) -> dict:
    """The public keys statements are signed with (a JWK set): for anyone, to check a statement with."""
    return request.app.state.signer.jwks()


def _drivers(request: Request, statement: Issued) -> dict[tuple[str, str, str], dict]:
    """The weights behind each shared cost of `statement`, every tenant's (usage read as the ledger
    apportioned it), by (basis, period, service)."""
    wanted = {(x["basis"], x["original_period"], x["service"]) for x in statement.lines("shared_costs")}
    found = {}
    with Books.reading(request.app.state.db) as books:
        for basis, period, service in wanted:
            try:
                usage = books.usage(service, period) if basis == "usage" else None
                found[(basis, period, service)] = weights(request.app.state.month_end.registry, basis, period, usage)
            except ApportionmentError:
                continue
    return found


@router.get("/statements/{number}")
async def statement(number: Line(100), request: Request, who: PrincipalDep,
                    format: Annotated[Literal["json", "csv", "pdf"], Query()] = "json") -> Response:
    with request.app.state.db.connect() as c:
        as_tenant(c, who.tenant)
        found = closing_queries.stored(c, number, _scope_tenant(who, None))
        if found is None:  # another tenant's statement is as absent as one never issued
            raise ApiError(404, "not_found", f"no statement {number}")
        # A partner sees its own chain only: a gap in the numbers is other tenants' statements.
        wrong = verification.problem(c, request.app.state.month_end.keys, found, every_tenant=who.tenant is None)
    if wrong:
        log.error("statement_unverified", statement=number, tenant=found.tenant, problem=wrong)
        metrics.error("statement_signature_invalid")
        raise ApiError(409, "statement_signature_invalid", f"statement {number} is not served: {wrong}; its "
                       "signature does not verify. Finance and operations have been alerted")
    text = found.body
    headers = {f"HPS-Statement-{name.replace('_', '-').title()}": str(value or "")
               for name, value in _signed(found).items() if name != "body_sha256"}
    attachment = {"Content-Disposition": f'attachment; filename="{number}.{format}"', **headers}
    if format == "csv":
        return StreamingResponse(render.csv_pieces(Issued(text)), media_type="text/csv", headers=attachment)
    if format == "pdf":
        issued = Issued(text)
        with request.app.state.db.connect() as c:
            as_tenant(c, who.tenant)
            before = closing_queries.previous(c, found.tenant, found.sequence)
        context = render.Context(before, _signed(found), _drivers(request, issued))
        return Response(render.to_pdf(issued, context), media_type="application/pdf", headers=attachment)
    return StreamingResponse(pieces(text), media_type="application/json", headers=headers)


@router.get("/periods/{period}/reconciliation")
async def reconciliation(period: Period, request: Request, who: PrincipalDep) -> dict:
    require(who, "finance", "ops")
    report = request.app.state.month_end.reconcile(period)
    return {"period": period, "balanced": report.balanced,
            "services": [{"service": r.service, **{name: str(getattr(r, name).quantize(PENNY)) for name in
                          ("direct_charges", "shared_costs", "credit_notes", "recorded", "recharged", "difference")}}
                         for r in report.services],
            "blockers": [blocker(b) for b in report.blockers],
            "unverified_statements": [{"number": n, "problem": why} for n, why in sorted(report.unverified.items())]}
