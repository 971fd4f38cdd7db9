"""The partner API: submit, follow and move service requests; read what became of each command.

The gateway decides only what it knows for certain (who is calling, what their role may ever do,
whose request it is, the shape of the body, the catalogue); the request's worker decides the rest
and its decision is the command's outcome (services/gateway/commands.py).
"""

import time
from typing import Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from services.gateway.commands import Submitted, location
from services.gateway.schemas import (
    CommandOutcome,
    HistoryLine,
    NewRequest,
    Page,
    PayrollRun,
    PayrollRunAccepted,
    TransitionBody,
)
from services.gateway.store import View
from shared import ids
from shared.api.app import publish, publish_once
from shared.api.auth import Principal, PrincipalDep, require
from shared.api.errors import ApiError
from shared.api.outcomes import Outcome, WaitSeconds, answer, not_found, settle
from shared.catalogue import CatalogueError
from shared.contracts import Action, RequestEvent, RequestSubmitted, Status, TransitionRequested
from shared.contracts.names import PAYROLL_RUN_REQUESTED
from shared.fields import Code, first_day
from shared.idempotency import Command
from shared.request_engine import lifecycle
from shared.tenants import RegistryError
from shared.topics import requests_topic

router = APIRouter(prefix="/v1")


ACCEPTED = {202: {"model": CommandOutcome, "description": "accepted: the outcome is pending at Location"},
            200: {"model": CommandOutcome, "description": "waited: the command was applied"}}


@router.post("/requests", status_code=202, response_class=JSONResponse, responses=ACCEPTED)
async def submit(body: NewRequest, request: Request, who: PrincipalDep, wait_s: WaitSeconds,
                 idempotency_key: Annotated[str | None, Header(max_length=200)] = None) -> JSONResponse:
    """Submit a service request; `Idempotency-Key` makes a retry name the same request."""
    require(who, "partner")
    state = request.app.state
    if body.tenant is not None and body.tenant != who.tenant:
        raise ApiError(403, "forbidden", "a partner can submit only for its own tenant", "tenant")
    now = state.clock()
    today = now.date()
    if not state.registry.get(who.tenant).active_on(today):
        raise ApiError(403, "tenant_inactive", f"{who.tenant} is not a tenant of the shared service on {today}")
    catalogue = state.catalogues.get(body.service)
    if catalogue is None:
        raise ApiError(422, "invalid", f"unknown service {body.service!r}; known: {', '.join(state.catalogues)}",
                       "service")
    try:
        request_type = catalogue.type(body.type)
        if request_type.recurring:
            raise CatalogueError(f"{body.type} is charged by the service itself and cannot be requested")
        request_type.check(body.measures())
    except CatalogueError as exc:
        field = str(exc).split(":")[0] if str(exc).split(":")[0] in ("quantity", "hours", "value") else "type"
        raise ApiError(422, "invalid", str(exc), field) from None

    # Derived from the key: a retry after a lost answer names the same request.
    request_id = ids.derived(f"request/{who.tenant}/{idempotency_key}") if idempotency_key else uuid4()
    submitted = RequestSubmitted(
        request_id=request_id, service=body.service, request_type=body.type, priority=body.priority,
        description=body.description, cost_centre=body.cost_centre, requested=body.measures(),
        submitted_by=who.name, submitted_at=now)
    event = state.codec.build(RequestEvent.SUBMITTED.of(body.service), "/hps/gateway", who.tenant,
                              submitted, subject=str(request_id), id=ids.derived(f"submit/{request_id}"))
    command = Command(requests_topic(body.service), str(request_id), event)
    await publish_once(request, state.idempotency, who.tenant, idempotency_key, body.model_dump_json(exclude_none=True),
                       command, request_id=str(request_id))
    outcome = await state.commands.pending(str(event.id), str(request_id), who.tenant, body.service, "submit",
                                           who.name, now, request_type=body.type)
    return await _answer(request, who, outcome, wait_s)


async def _answer(request: Request, who: Principal, pending: Outcome, wait_s: float) -> JSONResponse:
    commands, command_id = request.app.state.commands, pending.resource["command_id"]
    return await answer(pending, location(command_id), lambda: commands.outcome(who, command_id), wait_s,
                        commands.waiters, command_id)


@router.get("/commands/{command_id}", response_model=CommandOutcome)
async def command(command_id: UUID, request: Request, who: PrincipalDep, wait_s: WaitSeconds) -> dict:
    """What became of a command: pending, applied (with the request as it is now) or refused (why).
    With ?wait=N, answers as soon as it is decided, or after N seconds still pending."""
    commands = request.app.state.commands
    outcome = commands.outcome(who, str(command_id))
    if outcome is None:  # another tenant's command is as absent as one never given
        raise not_found(str(command_id))
    return (await settle(outcome, lambda: commands.outcome(who, str(command_id)), wait_s, commands.waiters,
                         str(command_id))).resource


def visible(request: Request, who: Principal, request_id: UUID) -> View:
    view = request.app.state.requests.get(who, str(request_id))
    if view is None:  # another tenant's request is as absent as one that never was
        raise ApiError(404, "not_found", f"no request {request_id}")
    return view


@router.get("/requests/{request_id}")
async def show(request_id: UUID, request: Request, who: PrincipalDep) -> dict:
    return visible(request, who, request_id).as_json()


@router.get("/requests/{request_id}/history", response_model=list[HistoryLine])
async def request_history(request_id: UUID, request: Request, who: PrincipalDep) -> list[dict]:
    """Every change of the request and every command refused on it, with who and when, oldest first."""
    visible(request, who, request_id)
    return request.app.state.requests.history(who, str(request_id))


@router.get("/requests", response_model=Page)
async def listing(request: Request, who: PrincipalDep, status: Status | None = None, service: Code | None = None,
                  cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=200)] = 50) -> Page:
    try:
        views, next_cursor = request.app.state.requests.page(who, status, service, cursor, limit)
    except ValueError as exc:
        raise ApiError(422, "invalid", str(exc), "cursor") from None
    return Page(items=[v.as_json() for v in views], next_cursor=next_cursor)


def _known(request: Request, who: Principal, request_id: UUID) -> Submitted:
    """Whose the request is and its type, from the read model or, just submitted, the command that made it."""
    view = request.app.state.requests.get(who, str(request_id))
    if view is not None:
        return Submitted(view.tenant, view.request.service, view.request.request_type)
    known = request.app.state.commands.submitted(who, str(request_id))
    if known is None:
        raise ApiError(404, "not_found", f"no request {request_id}")
    return known


@router.post("/requests/{request_id}/transitions", status_code=202, response_class=JSONResponse, responses=ACCEPTED)
async def move(request_id: UUID, body: TransitionBody, request: Request, who: PrincipalDep,
               wait_s: WaitSeconds) -> JSONResponse:
    """Ask for a request to move on. Its worker decides against the request as it is then: with
    ?wait=N the answer is that decision (200, or 409 with the actions allowed, or 422)."""
    require(who, "partner", "staff")
    request_ = _known(request, who, request_id)  # first: another tenant's request is absent, whatever the action
    if not lifecycle.ever_allowed(body.action, who.actor_role):
        needs = " or ".join(lifecycle.roles_for(body.action))
        raise ApiError(403, "forbidden", f"{who.actor_role} cannot {body.action.value} a request; needs {needs}")
    if body.action is Action.REJECT and not body.reason:
        raise ApiError(422, "invalid", "reason: a rejection needs a reason", "reason")
    delivered = body.delivered()
    if body.action is Action.COMPLETE:
        request_type = request.app.state.catalogues[request_.service].type(request_.request_type)
        if delivered is None:
            measure = request_type.price.measure
            raise ApiError(422, "invalid", f"{measure}: complete needs the {measure} delivered", measure)
        try:
            request_type.check(delivered)
        except CatalogueError as exc:
            raise ApiError(422, "invalid", str(exc), str(exc).split(":")[0]) from None
        if body.period is not None:
            try:
                request.app.state.registry.accountable(request_.tenant, first_day(body.period))
            except RegistryError as exc:  # the ledger could not bill the charge to anyone
                raise ApiError(422, "invalid", f"period: {exc}", "period") from None
    elif delivered is not None or body.period is not None:
        raise ApiError(422, "invalid", "quantity, hours, value and period go with complete only", "action")
    cmd = TransitionRequested(request_id=request_id, action=body.action, actor=who.name,
                              actor_role=who.actor_role, reason=body.reason, delivered=delivered, period=body.period)
    state = request.app.state
    event = state.codec.build(RequestEvent.TRANSITION_REQUESTED.of(request_.service), "/hps/gateway", request_.tenant,
                              cmd, subject=str(request_id), id=uuid4())
    await publish(request, requests_topic(request_.service), event, str(request_id))
    outcome = await state.commands.pending(str(event.id), str(request_id), request_.tenant, request_.service,
                                           body.action.value, who.name, state.clock())
    return await _answer(request, who, outcome, wait_s)


@router.post("/payroll/runs", status_code=202, response_model=PayrollRunAccepted,
             responses={200: {"model": PayrollRunAccepted, "description": "waited: every tenant's run decided"}})
async def payroll_run(body: PayrollRun, request: Request, who: PrincipalDep, wait_s: WaitSeconds) -> JSONResponse:
    """Charge every tenant's payroll for a period; asking twice charges once. One command per
    tenant; with ?wait=N the answer is 200 once HR has answered for every one of them."""
    if not (who.role == "finance" or (who.role == "staff" and who.service == "hr")):
        raise ApiError(403, "forbidden", "payroll runs are started by finance or HR staff")
    state = request.app.state
    tenants = [t.code for t in state.registry.active(first_day(body.period))]
    pending = []
    for tenant in tenants:
        key = f"payroll/{body.period}/{tenant}"
        event = state.codec.build(PAYROLL_RUN_REQUESTED, "/hps/gateway", tenant,
                                  {"period": body.period, "requested_by": who.name}, subject=key)
        await publish(request, requests_topic("hr"), event, key)
        pending.append(await state.commands.pending(str(event.id), key, tenant, "hr", "payroll", who.name,
                                                    state.clock()))
    deadline = time.monotonic() + wait_s  # one wait for the whole run
    outcomes = [await settle(o, lambda i=o.resource["command_id"]: state.commands.outcome(who, i),
                             deadline - time.monotonic(), state.commands.waiters, o.resource["command_id"])
                for o in pending]
    decided = wait_s > 0 and all(o.state != "pending" for o in outcomes)
    return JSONResponse({"period": body.period, "tenants": tenants, "commands": [o.resource for o in outcomes]},
                        200 if decided else 202)


@router.get("/catalogue")
async def catalogue(request: Request, who: PrincipalDep) -> dict:
    """What can be requested: every service's request types, price models and SLA targets."""
    return {name: c.model_dump(mode="json") for name, c in request.app.state.catalogues.items()}

