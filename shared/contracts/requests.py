"""The request services' event payloads: submissions, transitions, snapshots, refusals, SLA."""

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal
from uuid import UUID

from pydantic import Field

from shared.contracts.base import Data
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


ChangeAction = Literal["submit", "approve", "accept", "start", "complete", "reject", "cancel", "sla-breach"]


class Change(Data):
    """What made a version of a request: a command (a submission or a transition) or the SLA clock."""

    action: ChangeAction
    actor: Line()
    command_id: UUID | None = Field(default=None, description="the event applied; none for the SLA clock")


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
    change: Change | None = Field(default=None, description="what made this version, and who")


class TransitionRefused(Data):
    """The worker's answer to a transition it cannot take, as the caller is shown it."""

    request_id: UUID
    action: Action
    status: Status | None = Field(description="the request's status when refused; null if there is no such request")
    reason: Prose(4000)
    code: Literal["illegal_transition", "invalid", "not_found"] = "illegal_transition"
    field: Line(100) | None = None
    allowed: list[Action] = Field(default_factory=list, description="what this actor may do to the request instead")
    command_id: UUID | None = Field(default=None, description="the transition-requested event refused")
    actor: Line() | None = None
    refused_at: datetime | None = None


class SlaCheck(Data):
    request_id: UUID


class PayrollRunRequested(Data):
    period: Period
    requested_by: Line()


class PayrollCharged(Data):
    """HR's answer to a payroll run for one tenant: what it charged (or charged already)."""

    period: Period
    payslips: int = Field(ge=0)
    amount: Pounds = Field(description="0.00 for a tenant with no staff on the payroll")
    charge_id: UUID | None = Field(default=None, description="the charge raised; none when nothing was owed")
    command_id: UUID = Field(description="the payroll run-requested event answered")
    charged_before: bool = Field(default=False, description="an earlier run of the period had charged it already")


class SlaBreached(Data):
    request_id: UUID
    service: Code
    priority: Priority
    status: Status
    sla_due_at: datetime
    detected_at: datetime
