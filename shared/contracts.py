"""Event types: each one's name, topic and data schema. The single source for docs/events.md."""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared import topics
from shared.fields import Code, CostCentre, Line, Period, Pounds, Prose


class Priority(StrEnum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"


class Status(StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class Action(StrEnum):
    APPROVE = "approve"
    ACCEPT = "accept"
    START = "start"
    COMPLETE = "complete"
    REJECT = "reject"
    CANCEL = "cancel"


class Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Measures(Data):
    """What a request asks for, or what was delivered: the one its price model needs."""

    quantity: int | None = Field(default=None, ge=1, le=10_000)
    hours: Decimal | None = Field(default=None, gt=0, le=10_000, decimal_places=2)
    value: Pounds | None = Field(default=None, gt=0, le=1_000_000_000)


class RequestSubmitted(Data):
    request_id: UUID
    service: Code
    request_type: Code
    priority: Priority
    description: Prose(2000)
    cost_centre: CostCentre
    requested: Measures
    submitted_by: Line()
    submitted_at: datetime


class TransitionRequested(Data):
    request_id: UUID
    action: Action
    actor: Line()
    actor_role: Literal["partner", "budget-holder", "staff"]
    reason: Prose(2000) | None = None
    delivered: Measures | None = None
    period: Period | None = Field(default=None, description="on complete: the month the work is charged to")


class RequestSnapshot(Data):
    """The whole request after a change: the read model upserts it as it comes."""

    request_id: UUID
    service: Code
    request_type: Code
    priority: Priority
    description: Prose(2000)
    cost_centre: CostCentre
    requested: Measures
    delivered: Measures | None = None
    status: Status
    status_reason: Prose(2000) | None = None
    submitted_by: Line()
    submitted_at: datetime
    updated_at: datetime
    sla_due_at: datetime
    sla_breached: bool = False
    amount: Pounds | None = Field(default=None, description="estimate until completed, then the charge")
    charge_period: Period | None = None
    version: int = Field(ge=1)


class TransitionRefused(Data):
    request_id: UUID
    action: Action
    status: Status
    reason: Prose(4000)


class SlaCheck(Data):
    request_id: UUID


class PayrollRunRequested(Data):
    period: Period
    requested_by: Line()


class SlaBreached(Data):
    request_id: UUID
    service: Code
    priority: Priority
    status: Status
    sla_due_at: datetime
    detected_at: datetime


class ChargeRecorded(Data):
    charge_id: UUID
    service: Code
    request_type: Code
    kind: Literal["request", "recurring", "correction"] = "request"
    quantity: Decimal = Field(gt=0, decimal_places=2)
    unit_price: Pounds
    amount: Pounds
    cost_centre: CostCentre
    period: Period
    request_id: UUID | None = None
    description: Prose(200, min_length=0) = ""
    corrects: UUID | None = None


class SharedCostRecorded(Data):
    cost_id: UUID
    service: Code
    description: Prose(500)
    amount: Pounds = Field(gt=0, le=100_000_000)
    period: Period
    basis: Literal["staff", "sites", "budget", "fixed", "usage"]
    recorded_by: Line()
    incurred_on: date | None = None


@dataclass(frozen=True)
class EventType:
    name: str
    topic: str
    schema: type[Data]
    key: str
    purpose: str


def _per_service(suffix: str, topic_of, schema: type[Data], purpose: str) -> list[EventType]:
    return [
        EventType(f"uk.hps.{s}.{suffix}", topic_of(s), schema, "request id", purpose.format(service=s))
        for s in topics.SERVICES
    ]


EVENT_TYPES: dict[str, EventType] = {
    t.name: t
    for t in [
        *_per_service("request.submitted", topics.requests_topic, RequestSubmitted,
                      "a partner submitted a {service} request (the gateway, after validation)"),
        *_per_service("request.transition-requested", topics.requests_topic, TransitionRequested,
                      "staff or the partner asked for a {service} request to move on"),
        *_per_service("request.changed", topics.events_topic, RequestSnapshot,
                      "a {service} request changed status; carries the whole request"),
        *_per_service("request.sla-breached", topics.events_topic, SlaBreached,
                      "a {service} request passed its SLA target without being finished"),
        *_per_service("request.transition-refused", topics.events_topic, TransitionRefused,
                      "a {service} request could not take a requested transition (it had moved on)"),
        *_per_service("request.sla-check", topics.requests_topic, SlaCheck,
                      "the {service} worker's own clock asking whether an open request is overdue"),
        EventType("uk.hps.hr.payroll.run-requested", topics.requests_topic("hr"), PayrollRunRequested,
                  "payroll/period/tenant", "charge a tenant's monthly payroll for a period (once, however often asked)"),
        EventType("uk.hps.finance.charge.recorded", topics.CHARGES, ChargeRecorded, "tenant",
                  "a tenant-tagged charge for work done (completed request, recurring payroll, correction)"),
        EventType("uk.hps.finance.shared-cost.recorded", topics.SHARED_COSTS, SharedCostRecorded, "service",
                  "a cost of the shared unit to apportion between the tenants of its period"),
    ]
}


def type_name(service: str, suffix: str) -> str:
    return f"uk.hps.{service}.{suffix}"
