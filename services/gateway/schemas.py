"""The partner API's request and response bodies (not the event contracts, not the tables)."""

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts import Action, Measures, Priority
from shared.fields import Code, CostCentre, Period, Prose


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewRequest(_Body):
    service: Code = Field(examples=["it"])
    type: Code = Field(examples=["laptop-provision"])
    priority: Priority = Priority.P3
    description: Prose(2000) = Field(examples=["Laptop for a new social worker"])
    cost_centre: CostCentre
    quantity: int | None = Field(default=None, ge=1, le=10_000)
    hours: Decimal | None = Field(default=None, gt=0, le=10_000, decimal_places=2)
    value: Decimal | None = Field(default=None, gt=0, le=1_000_000_000, decimal_places=2)
    tenant: Code | None = Field(default=None, description="optional; must be the caller's own tenant")

    def measures(self) -> Measures:
        return Measures(quantity=self.quantity, hours=self.hours, value=self.value)


class TransitionBody(_Body):
    action: Action
    reason: Prose(2000) | None = None
    quantity: int | None = Field(default=None, ge=1, le=10_000)
    hours: Decimal | None = Field(default=None, gt=0, le=10_000, decimal_places=2)
    value: Decimal | None = Field(default=None, gt=0, le=1_000_000_000, decimal_places=2)
    period: Period | None = Field(default=None, description="complete only: the month to charge, default this month")

    def delivered(self) -> Measures | None:
        if self.quantity is None and self.hours is None and self.value is None:
            return None
        return Measures(quantity=self.quantity, hours=self.hours, value=self.value)


class CommandOutcome(BaseModel):
    """A command the gateway accepted, at its Location: pending until the request's worker decides."""

    command_id: str
    state: Literal["pending", "applied", "refused"]
    location: str = Field(description="GET it for the outcome; ?wait=N waits up to N seconds for the decision")
    request_id: str
    action: str = Field(description="submit, or the transition asked for")
    requested_by: str
    requested_at: str | None
    decided_at: str | None
    result: dict | None = Field(description="applied: the request as it is now")
    error: dict | None = Field(description="refused: the worker's reason {code, message, status, allowed}")


class HistoryLine(BaseModel):
    at: str
    outcome: Literal["applied", "refused"]
    action: str
    actor: str
    status: str | None = Field(description="the status it led to; for a refusal, the status that refused it")
    version: int | None
    reason: str | None
    command_id: str | None


class PayrollRun(_Body):
    period: Period


class PayrollRunAccepted(BaseModel):
    """One command per tenant, each with its outcome: what HR charged it (or had charged before)."""

    period: str
    tenants: list[str]
    commands: list[CommandOutcome]


class Page(BaseModel):
    items: list[dict]
    next_cursor: str | None
