"""Every platform topic, declared once: name, partitions, retention or compaction."""

from dataclasses import dataclass

DAY_MS = 24 * 60 * 60 * 1000
FOREVER = -1

# The back-office functions; adding one here (and its catalogue) gives it its topics.
SERVICES = ("hr", "it", "procurement", "finance")


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int
    retention_ms: int
    purpose: str
    compact: bool = False

    def config(self) -> dict[str, str]:
        if self.compact:
            return {"cleanup.policy": "compact"}
        return {"cleanup.policy": "delete", "retention.ms": str(self.retention_ms)}


def requests_topic(service: str) -> str:
    return f"{service}.requests"


def events_topic(service: str) -> str:
    return f"{service}.events"


CHARGES = "finance.charges"
SHARED_COSTS = "finance.shared-costs"
DISPUTES = "finance.disputes"
FINANCE_REFUSALS = "finance.refusals"
DEAD_LETTERS = "ops.dead-letters"

TOPICS: tuple[Topic, ...] = (
    *(
        Topic(requests_topic(s), 6, 365 * DAY_MS, f"{s}: submitted requests and requested transitions (key: request id)")
        for s in SERVICES
    ),
    *(
        Topic(events_topic(s), 6, 365 * DAY_MS, f"{s}: request status changes and SLA breaches (key: request id)")
        for s in SERVICES
    ),
    Topic(CHARGES, 6, FOREVER, "charges for completed and recurring work, input of the ledger (key: tenant)"),
    Topic(SHARED_COSTS, 3, FOREVER, "costs of the shared unit to apportion between tenants (key: service)"),
    Topic(DISPUTES, 3, FOREVER, "statement lines disputed by partners, and finance's answers (key: tenant)"),
    Topic(FINANCE_REFUSALS, 3, FOREVER, "entries and commands the ledger would not post, with the reason (key: tenant)"),
    Topic(DEAD_LETTERS, 3, 90 * DAY_MS, "messages that failed validation or handling, with reason and source position"),
)

BY_NAME = {t.name: t for t in TOPICS}
