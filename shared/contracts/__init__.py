"""Event types, declared once: each one's name (names.py), topic, key and data schema
(requests.py, finance.py). Every producer and consumer, and docs/events.md, reads them here."""

from dataclasses import dataclass

from shared import topics
from shared.contracts.base import Data
from shared.contracts.finance import (
    Basis,
    ChargeRecorded,
    DisputeAccepted,
    DisputeRaised,
    DisputeRejected,
    FinanceCommandRefused,
    SharedCostRecorded,
    SharedCostWithdrawn,
)
from shared.contracts.names import (
    CHARGE_RECORDED,
    DISPUTE_ACCEPTED,
    DISPUTE_RAISED,
    DISPUTE_REJECTED,
    FINANCE_COMMAND_REFUSED,
    PAYROLL_CHARGED,
    PAYROLL_RUN_REQUESTED,
    SHARED_COST_RECORDED,
    SHARED_COST_WITHDRAWN,
    RequestEvent,
)
from shared.contracts.requests import (
    Action,
    Change,
    Measures,
    PayrollCharged,
    PayrollRunRequested,
    Priority,
    RequestSnapshot,
    RequestSubmitted,
    SlaBreached,
    SlaCheck,
    Status,
    TransitionRefused,
    TransitionRequested,
)

__all__ = ["Action", "Basis", "Change", "ChargeRecorded", "Data", "DisputeAccepted", "DisputeRaised",
           "DisputeRejected", "EVENT_TYPES", "EventType", "FinanceCommandRefused", "Measures", "PayrollCharged",
           "PayrollRunRequested", "Priority", "RequestEvent", "RequestSnapshot", "RequestSubmitted", "SharedCostRecorded",
           "SharedCostWithdrawn", "SlaBreached", "SlaCheck", "Status", "TransitionRefused", "TransitionRequested"]


@dataclass(frozen=True)
class EventType:
    name: str
    topic: str
    schema: type[Data]
    key: str
    purpose: str


def _per_service(kind: RequestEvent, topic_of, schema: type[Data], purpose: str) -> list[EventType]:
    return [EventType(kind.of(s), topic_of(s), schema, "request id", purpose.format(service=s)) for s in topics.SERVICES]


EVENT_TYPES: dict[str, EventType] = {
    t.name: t
    for t in [
        *_per_service(RequestEvent.SUBMITTED, topics.requests_topic, RequestSubmitted,
                      "a partner submitted a {service} request (the gateway, after validation)"),
        *_per_service(RequestEvent.TRANSITION_REQUESTED, topics.requests_topic, TransitionRequested,
                      "staff or the partner asked for a {service} request to move on"),
        *_per_service(RequestEvent.CHANGED, topics.events_topic, RequestSnapshot,
                      "a {service} request changed status; carries the whole request"),
        *_per_service(RequestEvent.SLA_BREACHED, topics.events_topic, SlaBreached,
                      "a {service} request passed its SLA target without being finished"),
        *_per_service(RequestEvent.TRANSITION_REFUSED, topics.events_topic, TransitionRefused,
                      "a {service} request could not take a requested transition: why, and what the actor may do"),
        *_per_service(RequestEvent.SLA_CHECK, topics.requests_topic, SlaCheck,
                      "the {service} worker's own clock asking whether an open request is overdue"),
        EventType(PAYROLL_RUN_REQUESTED, topics.requests_topic("hr"), PayrollRunRequested,
                  "payroll/period/tenant", "charge a tenant's monthly payroll for a period (once, however often asked)"),
        EventType(PAYROLL_CHARGED, topics.events_topic("hr"), PayrollCharged, "payroll/period/tenant",
                  "what a payroll run charged a tenant, or had charged before: the run's outcome"),
        EventType(CHARGE_RECORDED, topics.CHARGES, ChargeRecorded, "tenant",
                  "a tenant-tagged charge for work done (completed request, recurring payroll, correction)"),
        EventType(SHARED_COST_RECORDED, topics.SHARED_COSTS, SharedCostRecorded, "service",
                  "a cost (or, negative, a credit) of the shared unit to apportion between the tenants of its period"),
        EventType(SHARED_COST_WITHDRAWN, topics.SHARED_COSTS, SharedCostWithdrawn, "service",
                  "finance took a shared cost back (its shares reversed), or re-recorded it on another basis"),
        EventType(DISPUTE_RAISED, topics.DISPUTES, DisputeRaised, "tenant",
                  "a partner disputes a line of one of its issued statements, with a reason"),
        EventType(DISPUTE_ACCEPTED, topics.DISPUTES, DisputeAccepted, "tenant",
                  "finance accepts a dispute: a credit note on the partner's next statement"),
        EventType(DISPUTE_REJECTED, topics.DISPUTES, DisputeRejected, "tenant",
                  "finance rejects a dispute, with its reason; the statement stands"),
        EventType(FINANCE_COMMAND_REFUSED, topics.FINANCE_REFUSALS, FinanceCommandRefused, "tenant",
                  "the ledger would not post an entry: why, for whoever asked"),
    ]
}
