"""The ledger's event payloads: charges, shared costs (and credits), withdrawals, disputes, refusals."""

from datetime import date, datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

from pydantic import Field, model_validator

from shared.contracts.base import Data
from shared.fields import Code, CostCentre, Line, Period, Pounds, Prose

Basis = Literal["staff", "sites", "budget", "fixed", "usage"]
# Why the ledger refused an entry; the finance API answers 404 for not_found, 409 for the
# already_* codes and 422 for the others.
RefusalCode = Literal["not_found", "already_corrected", "already_withdrawn", "already_disputed", "already_answered",
                      "already_credited", "cannot_apportion", "not_billable", "invalid", "unsupported"]


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
    amount_set_by_hand: bool = Field(default=False, description="a correction whose amount is not quantity × unit "
                                                                "price: finance set it, and the statement says so")


class SharedCostRecorded(Data):
    """A cost of the shared unit, or (a negative amount, with a reason) a credit or refund to share."""

    cost_id: UUID
    service: Code
    description: Prose(500)
    amount: Pounds = Field(ge=-100_000_000, le=100_000_000)
    period: Period
    basis: Basis
    recorded_by: Line()
    incurred_on: date | None = None
    reason: Prose(500) | None = Field(default=None, description="why: required for a credit or refund")

    @model_validator(mode="after")
    def _credit_has_reason(self) -> "SharedCostRecorded":
        if problem := amount_problem(self.amount, self.reason):
            raise ValueError(": ".join(problem))
        return self


def amount_problem(amount: Decimal, reason: str | None) -> tuple[str, str] | None:
    """(field, why) if a shared cost's amount and reason do not go together: the API's 422 and the event's rule."""
    if amount == 0:
        return "amount", "a shared cost of £0.00 shares nothing"
    if amount < 0 and not reason:
        return "reason", "a credit or refund (a negative amount) needs a reason"
    return None


class SharedCostWithdrawn(Data):
    """Take a recorded shared cost back (a reversal of its shares, never an update); with
    `rebasis`, the same cost is recorded again under `replacement_id` on the new basis."""

    cost_id: UUID
    service: Code
    reason: Prose(500)
    withdrawn_by: Line()
    rebasis: Basis | None = None
    replacement_id: UUID | None = None

    @model_validator(mode="after")
    def _rebasis_names_its_replacement(self) -> "SharedCostWithdrawn":
        if (self.rebasis is None) != (self.replacement_id is None):
            raise ValueError("replacement_id: a re-basis names the id of the cost it records again, and only a "
                             "re-basis does")
        if self.replacement_id is not None and self.replacement_id == self.cost_id:
            raise ValueError("replacement_id: the cost recorded again needs an id of its own")
        return self


class DisputeRaised(Data):
    """A partner says a line of one of its issued statements is wrong, and why."""

    dispute_id: UUID
    statement_number: Line(32)
    line_id: UUID = Field(description="the charge_id or cost_id of the disputed line, as the statement shows it")
    reason: Prose(1000)
    raised_by: Line()


class DisputeAccepted(Data):
    """Finance agrees: a credit note of `credit` on the partner's next open statement, referencing the
    disputed line; a shared cost's credit is apportioned back to the other tenants that bore it."""

    dispute_id: UUID
    credit: Pounds = Field(gt=0, le=100_000_000)
    reason: Prose(1000)
    answered_by: Line()


class DisputeRejected(Data):
    """Finance does not agree, and says why; the statement stands."""

    dispute_id: UUID
    reason: Prose(1000)
    answered_by: Line()


class FinanceCommandRefused(Data):
    """An event the ledger would not post, told to whoever asked: the reason and what to do."""

    command_id: UUID = Field(description="the id of the event refused")
    command: Line(100) = Field(description="its event type")
    subject: Line(100) | None = Field(default=None, description="the charge or cost it concerned")
    code: RefusalCode
    reason: Prose(4000)
    refused_at: datetime
