"""What a service worker does with each event on its requests topic: pure functions of the
request's current state and the event, returning the new state and the events to emit.

Handlers use the incoming event's time as "now", and derive emitted ids from its id, so a
redelivered event produces byte-for-byte the same output and consumers can deduplicate it.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.catalogue import Catalogue, CatalogueError
from shared.contracts import (
    Change,
    ChargeRecorded,
    RequestEvent,
    RequestSnapshot,
    RequestSubmitted,
    SlaBreached,
    SlaCheck,
    TransitionRefused,
    TransitionRequested,
)
from shared.contracts.names import CHARGE_RECORDED
from shared.events import Event, EventCodec
from shared.request_engine import lifecycle
from shared.topics import CHARGES, events_topic

APPLIED_KEPT = 50  # ids of recently applied events kept per request, to spot redeliveries


class Unprocessable(ValueError):
    """A well-formed event that cannot apply (unknown request, type not in the catalogue): a dead letter."""


@dataclass
class Outcome:
    state: dict[str, Any] | None = None  # the new table value; None leaves it as it was
    emits: list[tuple[str, str, Event]] = field(default_factory=list)  # (topic, key, event)


Handler = Callable[[dict[str, Any] | None, Event], Outcome]


class RequestHandlers:
    def __init__(self, service: str, catalogue: Catalogue, codec: EventCodec):
        self.service, self.catalogue, self.codec = service, catalogue, codec
        self.source = f"/hps/{service}"

    def registry(self) -> dict[str, Handler]:
        return {
            RequestEvent.SUBMITTED.of(self.service): self.on_submitted,
            RequestEvent.TRANSITION_REQUESTED.of(self.service): self.on_transition,
            RequestEvent.SLA_CHECK.of(self.service): self.on_sla_check,
        }

    def on_submitted(self, state, event: Event) -> Outcome:
        if state is not None:
            return Outcome()  # the same request submitted again: it exists already
        cmd = RequestSubmitted.model_validate(event.data)
        try:
            request = lifecycle.submit(cmd, self.catalogue, event)
        except CatalogueError as exc:
            raise Unprocessable(str(exc)) from None
        return self._changed(state, event, request)

    def on_transition(self, state, event: Event) -> Outcome:
        """Apply a transition, or refuse it with an event the caller reads as the command's outcome."""
        cmd = TransitionRequested.model_validate(event.data)
        common = {"request_id": cmd.request_id, "action": cmd.action, "command_id": event.id, "actor": cmd.actor,
                  "refused_at": event.time}
        if state is None or "request" not in state:
            refusal = TransitionRefused(**common, status=None, code="not_found", field=None, allowed=[],
                              reason=f"no {self.service} request {cmd.request_id}")
            return Outcome(None, [self._emit(event, 0, RequestEvent.TRANSITION_REFUSED, refusal)])
        if event.id.hex in state["applied"]:
            return Outcome()
        request = RequestSnapshot.model_validate(state["request"])
        try:
            changed = lifecycle.transition(request, cmd, self.catalogue, event)
        except lifecycle.IllegalTransition as exc:
            refusal = TransitionRefused(**common, status=request.status, code=exc.code, field=exc.field, reason=str(exc),
                              allowed=lifecycle.allowed(request.status, cmd.actor_role))
            return Outcome(self._remember(state, event),
                           [self._emit(event, 0, RequestEvent.TRANSITION_REFUSED, refusal)])
        outcome = self._changed(state, event, changed)
        if changed.status == "completed":
            charge: ChargeRecorded = lifecycle.charge_for(changed, self.catalogue)
            outcome.emits.append((CHARGES, event.tenant, self.codec.build(
                CHARGE_RECORDED, self.source, event.tenant, charge, subject=str(changed.request_id),
                id=charge.charge_id)))
        return outcome

    def on_sla_check(self, state, event: Event) -> Outcome:
        request = self._request(state, event)
        SlaCheck.model_validate(event.data)
        if not lifecycle.overdue(request, event.time):
            return Outcome()
        flagged = request.model_copy(update={"sla_breached": True, "version": request.version + 1, "updated_at": event.time,
                                             "change": Change(action="sla-breach", actor="sla-clock")})
        breach = SlaBreached(request_id=request.request_id, service=self.service, priority=request.priority,
                             status=request.status, sla_due_at=request.sla_due_at, detected_at=event.time)
        outcome = self._changed(state, event, flagged)
        outcome.emits.append(self._emit(event, 1, RequestEvent.SLA_BREACHED, breach))
        return outcome

    def _request(self, state, event: Event) -> RequestSnapshot:
        if state is None or "request" not in state:
            raise Unprocessable(f"no {self.service} request {event.subject or event.data.get('request_id')}")
        return RequestSnapshot.model_validate(state["request"])

    def _changed(self, state, event: Event, request: RequestSnapshot) -> Outcome:
        new_state = self._remember(state, event) | {"tenant": event.tenant, "request": request.model_dump(mode="json")}
        return Outcome(new_state, [self._emit(event, 0, RequestEvent.CHANGED, request)])

    def _emit(self, cause: Event, n: int, kind: RequestEvent, data) -> tuple[str, str, Event]:
        """The n-th event caused by `cause`, on the service's events topic, keyed by the request."""
        key = str(data.request_id)
        return events_topic(self.service), key, self.codec.build(kind.of(self.service), self.source, cause.tenant, data,
                                                                 subject=key, id=lifecycle.derived_id(cause.id, n))

    @staticmethod
    def _remember(state, event: Event) -> dict[str, Any]:
        applied = (state or {}).get("applied", [])
        return {**(state or {}), "applied": [*applied, event.id.hex][-APPLIED_KEPT:]}

