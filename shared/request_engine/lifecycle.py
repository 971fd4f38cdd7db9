"""The request lifecycle every service shares: who may move a request where, and what it costs."""

from datetime import datetime, timedelta
from uuid import UUID

from shared import ids
from shared.catalogue import Catalogue, CatalogueError
from shared.contracts import (
    Action,
    Change,
    ChargeRecorded,
    RequestSnapshot,
    RequestSubmitted,
    Status,
    TransitionRequested,
)
from shared.events import Event

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



class IllegalTransition(ValueError):
    """A transition the request cannot take: `illegal_transition` (its status or the actor's role
    does not allow it) or `invalid` (what came with it breaks a rule; `field` names it)."""

    def __init__(self, status: Status, action: str, allowed: list[str], why: str = "", field: str | None = None):
        self.status, self.action, self.allowed, self.field = status, action, allowed, field
        self.code = "invalid" if field else "illegal_transition"
        super().__init__(why or f"cannot {action} a request that is {status}; allowed: {', '.join(allowed) or 'none'}")


def allowed(status: Status, role: str) -> list[str]:
    return [action.value for action, (roles, _) in RULES.get(status, {}).items() if role in roles]


def ever_allowed(action: Action, role: str) -> bool:
    """Whether `role` may take `action` in some status: if not, no state of the request can change that."""
    return any(role in roles for rules in RULES.values() for a, (roles, _) in rules.items() if a is action)


def roles_for(action: Action) -> list[str]:
    return sorted({r for rules in RULES.values() for a, (roles, _) in rules.items() if a is action for r in roles})


def submit(cmd: RequestSubmitted, catalogue: Catalogue, event: Event) -> RequestSnapshot:
    request_type = catalogue.type(cmd.request_type)
    request_type.check(cmd.requested)
    _, _, estimate = request_type.price.price(cmd.requested)
    return RequestSnapshot(
        **cmd.model_dump(),
        status=S.AWAITING_APPROVAL if request_type.needs_approval(cmd.requested) else S.SUBMITTED,
        updated_at=event.time,
        sla_due_at=cmd.submitted_at + catalogue.sla_for(cmd.request_type, cmd.priority),
        amount=estimate,
        version=1,
        change=Change(action="submit", actor=cmd.submitted_by, command_id=event.id),
    )


def transition(request: RequestSnapshot, cmd: TransitionRequested, catalogue: Catalogue,
               event: Event) -> RequestSnapshot:
    """The request after `cmd` (carried by `event`), or IllegalTransition saying why not."""
    now = event.time
    rules = RULES.get(request.status, {})
    roles, target = rules.get(cmd.action, (frozenset(), None))
    if cmd.actor_role not in roles:
        raise IllegalTransition(request.status, cmd.action, allowed(request.status, cmd.actor_role))
    changes: dict = {"status": target, "updated_at": now, "version": request.version + 1,
                     "status_reason": cmd.reason,
                     "change": Change(action=cmd.action.value, actor=cmd.actor, command_id=event.id)}
    if cmd.action is A.REJECT and not cmd.reason:
        raise IllegalTransition(request.status, cmd.action, [], "reason: a rejection needs a reason", "reason")
    if cmd.action is A.COMPLETE:
        request_type = catalogue.type(request.request_type)
        if cmd.delivered is None:
            measure = request_type.price.measure
            raise IllegalTransition(request.status, cmd.action, [], f"{measure}: complete needs the {measure} delivered",
                                    measure)
        try:
            request_type.check(cmd.delivered)
        except CatalogueError as exc:
            raise IllegalTransition(request.status, cmd.action, [], str(exc), str(exc).split(":")[0]) from None
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
        charge_id=ids.derived(f"charge/{request.request_id}"),
        service=request.service, request_type=request.request_type, kind="request",
        quantity=quantity, unit_price=unit_price, amount=amount, cost_centre=request.cost_centre,
        period=request.charge_period, request_id=request.request_id, description=request.description[:200],
    )


def derived_id(source: UUID, n: int) -> UUID:
    """The id of the n-th event emitted while handling `source`: the same on every replay."""
    return ids.derived(f"{source}/{n}")


def sla_check_interval(catalogue: Catalogue) -> timedelta:
    """Often enough to catch the shortest target within a tenth of it, at most every minute."""
    shortest = min(t.for_priority(p) for t in [catalogue.sla, *(r.sla for r in catalogue.request_types.values() if r.sla)]
                   for p in ("P1", "P2", "P3", "P4"))
    return min(timedelta(minutes=1), max(timedelta(seconds=1), shortest / 10))
