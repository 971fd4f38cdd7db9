"""The portal at /portal: server-rendered pages (Jinja2, htmx for the parts that refresh in place)
for partners, shared-service staff and finance, on the same tokens, identities and roles as the API.

Signing in takes a bearer token (a development token, or a JWT from the partner's identity provider)
and keeps it in an HttpOnly, SameSite=Strict cookie scoped to /portal; a form posted from another
site is refused. Every page reads and acts through the API itself (`calls.Caller`).
"""

import re
from decimal import Decimal
from functools import partial
from importlib import resources
from typing import Annotated
from urllib.parse import quote, urlsplit

import yaml
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from services.gateway.portal import views
from services.gateway.portal.calls import Caller
from shared.api.auth import Principal, Unverified
from shared.logging import get_logger
from shared.request_engine import lifecycle

COOKIE = "hps_portal"
seg = partial(quote, safe="")  # an id from the address, as one segment of the API's path
# Forms whose work is an API call, which the audit trail records with its caller; a sign-in is recorded here.
AUDITED_BEHIND = ("/portal/requests", "/portal/disputes", "/portal/periods", "/portal/sign-out")
FILES = resources.files("services.gateway.portal")
templates = Jinja2Templates(directory=str(FILES / "templates"))
templates.env.filters.update(money=views.money, when=views.when, sla=views.sla)
router = APIRouter(prefix="/portal", include_in_schema=False)
log = get_logger("portal")
static = StaticFiles(directory=str(FILES / "static"))
MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
Text = Annotated[str, Form()]
Optional = Annotated[str | None, Form()]


class SignedOut(Exception):
    """No token in the cookie, or one the identities no longer accept."""


def _plain(token: str) -> bool:
    """A token that can travel in an Authorization header: printable ASCII, of a sane length."""
    return 0 < len(token) <= 8192 and token.isascii() and token.isprintable()


async def _who(request: Request) -> tuple[Principal, str]:
    token = request.cookies.get(COOKIE, "")
    if not _plain(token):
        raise SignedOut
    try:
        return await request.app.state.identities.who(token), token
    except Unverified:
        raise SignedOut from None


def _page(request: Request, template: str, who: Principal | None, code: int = 200, **context) -> HTMLResponse:
    return templates.TemplateResponse(request, template, {"who": who, "this_month": _this_month(request), **context},
                                      status_code=code)


def _this_month(request: Request) -> str:
    return f"{request.app.state.clock():%Y-%m}"


def _from_elsewhere(request: Request) -> Response | None:
    """403 for a form posted from another site: its Origin (or Referer) names another host."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if source is None or urlsplit(source).netloc == request.headers.get("host"):
        return None
    return Response("a form from another site is refused", status_code=403)


def _back(to: str, message: str | None = None, error: str | None = None) -> RedirectResponse:
    """303 to a portal page (never elsewhere), with what to tell the user there."""
    parts = urlsplit(to)
    path = parts.path if parts.path.startswith("/portal") and not parts.netloc and not parts.scheme else "/portal"
    query = "&".join(filter(None, [parts.query, f"error={quote(error[:300])}" if error else
                                   f"done={quote(message[:300])}" if message else ""]))
    return RedirectResponse(path + (f"?{query}" if query else "") + (f"#{parts.fragment}" if parts.fragment else ""),
                            status_code=303)


@router.get("", response_class=HTMLResponse)
async def home(request: Request, period: str | None = None, status: str | None = None,
               done: str | None = None, error: str | None = None) -> Response:
    try:
        who, token = await _who(request)
    except SignedOut:
        return _page(request, "sign_in.html", None)
    if period and not MONTH.fullmatch(period):
        error, period = f"{period[:20]!r} is not a month: give it as YYYY-MM", None
    period = period or _this_month(request)
    async with Caller(request, token) as api:
        if who.role == "partner":
            context = await views.partner(api, who, period, _budgets(request))
            return _page(request, "partner.html", who, period=period, done=done, error=error, **context)
        if who.role == "staff":
            return _page(request, "staff.html", who, **await views.queue(api, who, status), status=status, done=done,
                         error=error)
        if who.role == "finance":
            context = await views.finance(api, period)
            return _page(request, "finance.html", who, period=period, done=done, error=error, **context)
    return _page(request, "ops.html", who)


@router.get("/queue", response_class=HTMLResponse)
async def queue(request: Request, status: str | None = None) -> Response:
    """The staff queue's table alone: what the filter swaps in place."""
    try:
        who, token = await _who(request)
    except SignedOut:
        return _back("/portal")
    async with Caller(request, token) as api:
        return _page(request, "queue.html", who, **await views.queue(api, who, status))


@router.post("/sign-in")
async def sign_in(request: Request, token: Text) -> Response:
    if refused := _from_elsewhere(request):  # another site must not sign a browser in as someone else either
        return refused
    token = token.strip()
    try:
        if not _plain(token):
            raise Unverified("that is not an access token")
        request.state.principal = await request.app.state.identities.who(token)
    except Unverified as exc:
        return _page(request, "sign_in.html", None, code=401, error=str(exc))
    answer = RedirectResponse("/portal", status_code=303)
    answer.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/portal",
                      secure=request.url.scheme == "https")
    return answer


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    if refused := _from_elsewhere(request):
        return refused
    answer = RedirectResponse("/portal", status_code=303)
    answer.delete_cookie(COOKIE, path="/portal")
    return answer


async def _act(request: Request, path: str, body: dict, back: str, done: str) -> Response:
    """POST what a form asks to the API, and go back saying how it went."""
    if refused := _from_elsewhere(request):
        return refused
    try:
        _, token = await _who(request)
    except SignedOut:
        return _back("/portal")
    async with Caller(request, token) as api:
        answer = await api.post(path, body)
    if not answer.ok:
        return _back(back, error=answer.error)
    state = answer.body.get("state") if isinstance(answer.body, dict) else None
    if state == "pending":
        return _back(back, f"{done}: still being processed")
    return _back(back, done)


@router.post("/requests")
async def raise_request(request: Request, service: Text, type: Text, description: Text, cost_centre: Text,
                        priority: Text = "P3", quantity: Optional = None, hours: Optional = None,
                        value: Optional = None) -> Response:
    body = {"service": service, "type": type, "description": description, "cost_centre": cost_centre.upper(),
            "priority": priority, **views.measures(quantity, hours, value)}
    return await _act(request, "/v1/requests", body, "/portal#requests", f"{type} requested")


@router.get("/requests/{request_id}", response_class=HTMLResponse)
async def request_page(request: Request, request_id: str, done: str | None = None,
                       error: str | None = None) -> Response:
    try:
        who, token = await _who(request)
    except SignedOut:
        return _back("/portal")
    async with Caller(request, token) as api:
        found, history = await api.get(f"/v1/requests/{seg(request_id)}"), await api.get(
            f"/v1/requests/{seg(request_id)}/history")
    if not found.ok:
        return _page(request, "missing.html", who, code=found.status, error=found.error)
    actions = lifecycle.allowed(found.body["status"], who.actor_role)
    return _page(request, "request.html", who, request_=found.body, history=history.body or [], actions=actions,
                 done=done, error=error)


@router.post("/requests/{request_id}/transitions")
async def transition(request: Request, request_id: str, action: Text, back: Text = "/portal",
                     reason: Optional = None, quantity: Optional = None, hours: Optional = None,
                     value: Optional = None, period: Optional = None) -> Response:
    body = {"action": action, **({"reason": reason} if reason else {}), **views.measures(quantity, hours, value),
            **({"period": period} if period else {})}
    return await _act(request, f"/v1/requests/{seg(request_id)}/transitions", body, back, f"{action}: done")


@router.get("/statements/{number}", response_class=HTMLResponse)
async def statement(request: Request, number: str, done: str | None = None, error: str | None = None) -> Response:
    try:
        who, token = await _who(request)
    except SignedOut:
        return _back("/portal")
    async with Caller(request, token) as api:
        found = await api.get(f"/v1/finance/statements/{seg(number)}")
    if not found.ok:
        return _page(request, "missing.html", who, code=found.status, error=found.error)
    # The ledger serves a statement only once its signature verifies, and names it in these headers.
    signed = {"signature": found.headers.get("hps-statement-signature"),
              "key_id": found.headers.get("hps-statement-key-id")}
    return _page(request, "statement.html", who, statement=found.body, signed=signed, done=done, error=error,
                 sections=views.statement_sections(found.body))


@router.get("/statements/{number}/download")
async def download(request: Request, number: str, format: str = "pdf") -> Response:
    try:
        _, token = await _who(request)
    except SignedOut:
        return _back("/portal")
    async with Caller(request, token) as api:
        found = await api.call("GET", f"/v1/finance/statements/{seg(number)}", params={"format": format})
    if not found.ok:
        return _back(f"/portal/statements/{seg(number)}", error=found.error)
    kept = {name: value for name, value in found.headers.items()
            if name.lower() in ("content-type", "content-disposition") or name.lower().startswith("hps-statement")}
    return Response(found.content, status_code=200, headers=kept)


@router.post("/disputes")
async def dispute(request: Request, statement_number: Text, line_id: Text, reason: Text) -> Response:
    return await _act(request, "/v1/finance/disputes",
                      {"statement_number": statement_number, "line_id": line_id, "reason": reason},
                      f"/portal/statements/{seg(statement_number)}", "disputed: finance will answer")


@router.post("/disputes/{dispute_id}/{answer}")
async def answer_dispute(request: Request, dispute_id: str, answer: str, reason: Text,
                         credit: Optional = None, period: Optional = None) -> Response:
    if answer not in ("accept", "reject"):
        return _back("/portal", error=f"no such answer: {answer}")
    body = {"reason": reason, **({"credit": credit} if credit and answer == "accept" else {})}
    return await _act(request, f"/v1/finance/disputes/{seg(dispute_id)}/{answer}", body,
                      f"/portal?period={seg(period or '')}", f"dispute {answer}ed")


@router.post("/periods/{period}/close")
async def close(request: Request, period: str) -> Response:
    return await _act(request, f"/v1/finance/periods/{seg(period)}/close", {}, f"/portal?period={seg(period)}",
                      f"{period} closed: statements issued")


def _budgets(request: Request) -> dict[str, Decimal]:
    """Each tenant's monthly budget, from HPS_BUDGETS_FILE (read as it is now: an edit needs no restart).
    A file that cannot be read shows no budget, and says why in the log."""
    path = request.app.state.budgets_file
    if path is None:
        return {}
    try:
        return {str(code): Decimal(str(amount)) for code, amount in (yaml.safe_load(path.read_text()) or {}).items()}
    except (OSError, yaml.YAMLError, AttributeError, ArithmeticError, ValueError) as exc:
        log.warning("budgets_unreadable", path=str(path), error=str(exc)[:300])
        return {}
