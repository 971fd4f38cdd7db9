"""The request lifecycle every service shares: who may move a request where, and what it costs."""

from datetime import datetime, timedelta
from uuid import NAMESPACE_URL, UUID, uuid5

from shared.catalogue import Catalogue, CatalogueError
from shared.contracts import Action, ChargeRecorded, RequestSnapshot, RequestSubmitted, Status, TransitionRequested

S, A = Status, Action
PARTNER = frozenset({"partner", "budget-holder"})
STAFF = frozenset({"staff"})

# status -> action -> (roles that may take it, the status it leads to)
RULES: dict[Status, dict[Action, tuple[frozenset[str], Status]]] = {
    S.AWAITING_APPROVAL: {A.APPROVE: (frozenset({"budget-holder"}), S.SUBMITTED), A.CANCEL: (PARTNER, S.CANCELLED)},
    S.SUBMITTED: {A.ACCEPT: (STAFF, S.ACCEPTED), A.REJECT: (STAFF, S.REJECTED), A.CANCEL: (PARTNER, S.CANCELLED)},
    S.ACCEPTED: {A.START: (STAFF, S.IN_PROGRESS), A.REJECT: (STAFF, S.REJECTED), A.CANCEL: (PARTNER, S.CANCELLED)},
    S.IN_PROGRESS: {A.COMPLETE: (STAFF, S.COMPLETED), A.REJECT: (STAFF, S.REJECTED)},
}
OPEN = frozenset(RULES)

NAMESPACE = uuid5(NAMESPACE_URL, "https://hps.example/back-office")


class IllegalTransition(ValueError):
    def __init__(self, status: Status, action: str, allowed: list[str], why: str = ""):
        self.status, self.action, self.allowed = status, action, allowed
        super().__init__(why or f"cannot {action} a request that is {status}; allowed: {', '.join(allowed) or 'none'}")


def allowed(status: Status, role: str) -> list[str]:
    return [action.value for action, (roles, _) in RULES.get(status, {}).items() if role in roles]


def submit(cmd: RequestSubmitted, catalogue: Catalogue, now: datetime) -> RequestSnapshot:
    request_type = catalogue.type(cmd.request_type)
    request_type.check(cmd.requested)
    _, _, estimate = request_type.price.price(cmd.requested)
    return RequestSnapshot(
        **cmd.model_dump(),
        status=S.AWAITING_APPROVAL if request_type.needs_approval(cmd.requested) else S.SUBMITTED,
        updated_at=now,
        sla_due_at=cmd.submitted_at + catalogue.sla_for(cmd.request_type, cmd.priority),
        amount=estimate,
        version=1,
    )


def transition(request: RequestSnapshot, cmd: TransitionRequested, catalogue: Catalogue,
               now: datetime) -> RequestSnapshot:
    rules = RULES.get(request.status, {})
    roles, target = rules.get(cmd.action, (frozenset(), None))
    if cmd.actor_role not in roles:
        raise IllegalTransition(request.status, cmd.action, allowed(request.status, cmd.actor_role))
    changes: dict = {"status": target, "updated_at": now, "version": request.version + 1,
                     "status_reason": cmd.reason}
    if cmd.action is A.REJECT and not cmd.reason:
        raise IllegalTransition(request.status, cmd.action, [], "a rejection needs a reason")
    if cmd.action is A.COMPLETE:
        request_type = catalogue.type(request.request_type)
        if cmd.delivered is None:
            raise IllegalTransition(request.status, cmd.action, [],
                                    f"complete needs the {request_type.price.measure} delivered")
        try:
            request_type.check(cmd.delivered, "delivered.")
        except CatalogueError as exc:
            raise IllegalTransition(request.status, cmd.action, [], str(exc)) from None
        _, _, amount = request_type.price.price(cmd.delivered)
        changes |= {"delivered": cmd.delivered, "amount": amount,
                    "charge_period": cmd.period or now.strftime("%Y-%m")}
    return request.model_copy(update=changes)


def overdue(request: RequestSnapshot, now: datetime) -> bool:
    return request.status in OPEN and not request.sla_breached and now > request.sla_due_at


def charge_for(request: RequestSnapshot, catalogue: Catalogue) -> ChargeRecorded:
    """The charge a completed request raises; its id is derived, so a replay raises the same one."""
    quantity, unit_price, amount = catalogue.type(request.request_type).price.price(request.delivered)
    return ChargeRecorded(
        charge_id=uuid5(NAMESPACE, f"charge/{request.request_id}"),
        service=request.service, request_type=request.request_type, kind="request",
        quantity=quantity, unit_price=unit_price, amount=amount, cost_centre=request.cost_centre,
        period=request.charge_period, request_id=request.request_id, description=request.description[:200],
    )


def derived_id(source: UUID, n: int) -> UUID:
    """The id of the n-th event emitted while handling `source`: the same on every replay."""
    return uuid5(NAMESPACE, f"{source}/{n}")


def sla_check_interval(catalogue: Catalogue) -> timedelta:
    """Often enough to catch the shortest target within a tenth of it, at most every minute."""
    shortest = min(t.for_priority(p) for t in [catalogue.sla, *(r.sla for r in catalogue.request_types.values() if r.sla)]
                   for p in ("P1", "P2", "P3", "P4"))
    return min(timedelta(minutes=1), max(timedelta(seconds=1), shortest / 10))
