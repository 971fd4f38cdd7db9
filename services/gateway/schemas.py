"""The partner API's request and response bodies (not the event contracts, not the tables)."""

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts import Action, Measures, Priority, Status
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


class Accepted(BaseModel):
    request_id: str
    status: str = Field(description="'accepted': the event is on Kafka; the request shows within a second")


class TransitionAccepted(BaseModel):
    request_id: str
    action: Action
    from_status: Status


class PayrollRun(_Body):
    period: Period


class PayrollRunAccepted(BaseModel):
    period: str
    tenants: list[str]


class Page(BaseModel):
    items: list[dict]
    next_cursor: str | None
