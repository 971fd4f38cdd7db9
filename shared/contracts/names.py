"""Every event type's name, declared once: producers and consumers use these, never a literal."""

from enum import StrEnum

PREFIX = "uk.hps"


class RequestEvent(StrEnum):
    """The events every request service has, named per service: `RequestEvent.CHANGED.of("it")`."""

    SUBMITTED = "request.submitted"
    TRANSITION_REQUESTED = "request.transition-requested"
    CHANGED = "request.changed"
    SLA_BREACHED = "request.sla-breached"
    TRANSITION_REFUSED = "request.transition-refused"
    SLA_CHECK = "request.sla-check"

    def of(self, service: str) -> str:
        return f"{PREFIX}.{service}.{self.value}"

    @classmethod
    def kind(cls, type_: str) -> "RequestEvent | None":
        """Which request event `type_` is, whatever its service; None for any other type."""
        _, _, rest = type_.removeprefix(f"{PREFIX}.").partition(".")
        try:
            return cls(rest)
        except ValueError:
            return None


PAYROLL_RUN_REQUESTED = f"{PREFIX}.hr.payroll.run-requested"
PAYROLL_CHARGED = f"{PREFIX}.hr.payroll.charged"
CHARGE_RECORDED = f"{PREFIX}.finance.charge.recorded"
SHARED_COST_RECORDED = f"{PREFIX}.finance.shared-cost.recorded"
SHARED_COST_WITHDRAWN = f"{PREFIX}.finance.shared-cost.withdrawn"
DISPUTE_RAISED = f"{PREFIX}.finance.dispute.raised"
DISPUTE_ACCEPTED = f"{PREFIX}.finance.dispute.accepted"
DISPUTE_REJECTED = f"{PREFIX}.finance.dispute.rejected"
FINANCE_COMMAND_REFUSED = f"{PREFIX}.finance.command-refused"
