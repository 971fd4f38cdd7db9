"""The fast path of a batch: plain charges checked in Python and written with multi-row inserts."""

import json
from datetime import UTC, datetime

from services.finance.ledger.entries import (
    Conflict,
    Unpostable,
    billed,
    charge_postings,
    charge_row,
    refusal_id,
    shown_on,
)
from services.finance.ledger.repository import Books
from shared.contracts import ChargeRecorded
from shared.contracts.names import CHARGE_RECORDED as CHARGE
from shared.events import Event
from shared.tenants import Registry


class Batch:
    """What one batch's transaction already knows, and the rows waiting to be written."""

    def __init__(self, books: Books, registry: Registry, events: list[Event]):
        self.books, self.registry = books, registry
        ids = [str(e.id) for e in events]
        self.known = books.known_events(ids)
        self.refused = books.refused_events(ids)
        self.taken = books.taken_charge_ids([str(e.data.get("charge_id")) for e in events if e.type == CHARGE])
        self.statements: dict[str, str] = {}  # period -> the statement it goes on; stable under the lock
        self.billed: dict[tuple[str, str], str] = {}  # (tenant, period) -> who answers for it
        self.events: list[dict] = []
        self.charges: list[dict] = []
        self.postings: list[dict] = []
        self.refusals: list[dict] = []

    def seen(self, event: Event, digest: str) -> bool | Unpostable:
        """True for a redelivery of an applied event, its refusal for one refused before, else False;
        Conflict for the same id with other content."""
        known = self.known.get(str(event.id))
        refused = self.refused.get(str(event.id))
        if known is None and refused is None:
            return False
        if (known or refused["content_sha256"]) != digest:
            raise Conflict(f"event {event.id} was applied before with different content")
        if refused is None:
            return True
        again = Unpostable(refused["reason"], refused["code"], **json.loads(refused["detail"]))
        again.subject, again.refused_at = refused["subject"], aware(refused["refused_at"])
        return again

    def statement(self, period: str) -> str:
        if period not in self.statements:
            self.statements[period] = shown_on(period, self.books.closed_periods(period))
        return self.statements[period]

    def add(self, event: Event, digest: str, charge: ChargeRecorded) -> None:
        if str(charge.charge_id) in self.taken:
            raise Conflict(f"event {event.id} repeats a charge or cost id recorded under another event")
        statement = self.statement(charge.period)
        key = (event.tenant, charge.period)
        if key not in self.billed:  # raises Unpostable, uncached, for a tenant that cannot be billed
            self.billed[key] = billed(self.registry, event.tenant, charge.period, statement,
                                      f"charge {charge.charge_id}")
        tenant = self.billed[key]
        self.events.append({"event_id": str(event.id), "event_type": event.type, "content_sha256": digest,
                            "applied_at": datetime.now(UTC)})
        self.charges.append(charge_row(event, charge, tenant))
        self.postings += charge_postings(event, charge, tenant, statement)
        self.known[str(event.id)] = digest
        self.taken.add(str(charge.charge_id))

    def refuse(self, event: Event, digest: str, refusal: Unpostable) -> None:
        """Record that `event` was refused, and why: the caller reads it, and a redelivery gets the same."""
        refusal.refused_at = datetime.now(UTC)
        refusal.subject = subject_of(event)
        row = {"event_id": str(event.id), "event_type": event.type, "content_sha256": digest, "tenant": event.tenant,
               "subject": refusal.subject, "code": refusal.code, "reason": refusal.reason,
               "detail": json.dumps(refusal.detail, sort_keys=True, default=str),
               "refusal_id": str(refusal_id(event.id)), "refused_at": refusal.refused_at}
        self.refusals.append(row)
        self.refused[str(event.id)] = row

    def flush(self) -> None:
        self.books.add_events(self.events)
        self.books.add_charges(self.charges)
        self.books.add_postings(self.postings)
        self.books.add_refusals(self.refusals)
        for rows in (self.events, self.charges, self.postings, self.refusals):
            rows.clear()


def aware(at: datetime) -> datetime:
    """SQLite gives back the UTC time it was given without its zone."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def subject_of(event: Event) -> str | None:
    """The charge or cost an event is about."""
    subject = event.data.get("charge_id") or event.data.get("cost_id") or event.subject
    return str(subject)[:100] if subject else None
