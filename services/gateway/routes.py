"""The partner API: submit, follow and move service requests; start a payroll run."""

from typing import Annotated
from uuid import UUID, uuid4, uuid5

from fastapi import APIRouter, Header, Query, Request

from services.gateway.schemas import (
    Accepted,
    NewRequest,
    Page,
    PayrollRun,
    PayrollRunAccepted,
    TransitionAccepted,
    TransitionBody,
)
from services.gateway.store import View
from shared import lifecycle
from shared.api.app import publish, publish_once
from shared.api.auth import Principal, PrincipalDep, require
from shared.api.errors import ApiError
from shared.catalogue import CatalogueError
from shared.contracts import Measures, RequestSubmitted, Status, TransitionRequested, type_name
from shared.fields import Code, first_day
from shared.idempotency import Command
from shared.tenants import RegistryError
from shared.topics import requests_topic

router = APIRouter(prefix="/v1")


@router.post("/requests", status_code=202, response_model=Accepted)
async def submit(body: NewRequest, request: Request, who: PrincipalDep,
                 idempotency_key: Annotated[str | None, Header(max_length=200)] = None) -> Accepted:
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
    request_id = uuid5(lifecycle.NAMESPACE, f"request/{who.tenant}/{idempotency_key}") if idempotency_key else uuid4()
    submitted = RequestSubmitted(
        request_id=request_id, service=body.service, request_type=body.type, priority=body.priority,
        description=body.description, cost_centre=body.cost_centre, requested=body.measures(),
        submitted_by=who.name, submitted_at=now)
    event = state.codec.build(type_name(body.service, "request.submitted"), "/hps/gateway", who.tenant,
                              submitted, subject=str(request_id), id=uuid5(lifecycle.NAMESPACE, f"submit/{request_id}"))
    command = Command(requests_topic(body.service), str(request_id), event)
    await publish_once(request, state.idempotency, who.tenant, idempotency_key, body.model_dump_json(exclude_none=True),
                       command, request_id=str(request_id))
    return Accepted(request_id=str(request_id), status="accepted")


def visible(request: Request, who: Principal, request_id: UUID) -> View:
    view = request.app.state.requests.get(who, str(request_id))
    if view is None:  # another tenant's request is as absent as one that never was
        raise ApiError(404, "not_found", f"no request {request_id}")
    return view


@router.get("/requests/{request_id}")
async def show(request_id: UUID, request: Request, who: PrincipalDep) -> dict:
    return visible(request, who, request_id).as_json()


@router.get("/requests", response_model=Page)
async def listing(request: Request, who: PrincipalDep, status: Status | None = None, service: Code | None = None,
                  cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=200)] = 50) -> Page:
    try:
        views, next_cursor = request.app.state.requests.page(who, status, service, cursor, limit)
    except ValueError as exc:
        raise ApiError(422, "invalid", str(exc), "cursor") from None
    return Page(items=[v.as_json() for v in views], next_cursor=next_cursor)


@router.post("/requests/{request_id}/transitions", status_code=202, response_model=TransitionAccepted)
async def move(request_id: UUID, body: TransitionBody, request: Request, who: PrincipalDep) -> TransitionAccepted:
    require(who, "partner", "staff")
    view = visible(request, who, request_id)
    current = view.request
    allowed = lifecycle.allowed(current.status, who.actor_role)
    if body.action.value not in allowed:
        raise ApiError(409, "illegal_transition",
                       f"cannot {body.action.value} a request that is {current.status.value}",
                       status=current.status.value, allowed=allowed)
    if body.action == "reject" and not body.reason:
        raise ApiError(422, "invalid", "reason: a rejection needs a reason", "reason")
    delivered = body.delivered()
    if body.action == "complete":
        request_type = request.app.state.catalogues[current.service].type(current.request_type)
        try:
            request_type.check(delivered or Measures())
        except CatalogueError as exc:
            raise ApiError(422, "invalid", str(exc), str(exc).split(":")[0]) from None
        if body.period is not None:
            try:
                request.app.state.registry.accountable(view.tenant, first_day(body.period))
            except RegistryError as exc:  # the ledger could not bill the charge to anyone
                raise ApiError(422, "invalid", f"period: {exc}", "period") from None
    elif delivered is not None or body.period is not None:
        raise ApiError(422, "invalid", "quantity, hours, value and period go with complete only", "action")
    cmd = TransitionRequested(request_id=current.request_id, action=body.action, actor=who.name,
                              actor_role=who.actor_role, reason=body.reason, delivered=delivered, period=body.period)
    event = request.app.state.codec.build(type_name(current.service, "request.transition-requested"),
                                          "/hps/gateway", view.tenant, cmd, subject=str(request_id))
    await publish(request, requests_topic(current.service), event, str(request_id))
    return TransitionAccepted(request_id=str(request_id), action=body.action, from_status=current.status)


@router.post("/payroll/runs", status_code=202, response_model=PayrollRunAccepted)
async def payroll_run(body: PayrollRun, request: Request, who: PrincipalDep) -> PayrollRunAccepted:
    """Charge every tenant's payroll for a period; asking twice charges once."""
    if not (who.role == "finance" or (who.role == "staff" and who.service == "hr")):
        raise ApiError(403, "forbidden", "payroll runs are started by finance or HR staff")
    state = request.app.state
    tenants = [t.code for t in state.registry.active(first_day(body.period))]
    for tenant in tenants:
        key = f"payroll/{body.period}/{tenant}"
        event = state.codec.build("uk.hps.hr.payroll.run-requested", "/hps/gateway", tenant,
                                  {"period": body.period, "requested_by": who.name}, subject=key)
        await publish(request, requests_topic("hr"), event, key)
    return PayrollRunAccepted(period=body.period, tenants=tenants)


@router.get("/catalogue")
async def catalogue(request: Request, who: PrincipalDep) -> dict:
    """What can be requested: every service's request types, price models and SLA targets."""
    return {name: c.model_dump(mode="json") for name, c in request.app.state.catalogues.items()}

