"""The fast path of a batch: plain charges checked in Python and written together, one bulk write per table."""

import json
from datetime import UTC, datetime

from services.finance.ledger.entries import (
    Conflict,
    Unpostable,
    billed,
    charge_postings,
    charge_row,
    refusal_id,
    same_content,
    shown_on,
)
from services.finance.ledger.repository import Books
from shared.contracts.names import CHARGE_RECORDED as CHARGE
from shared.db import aware
from shared.events import Event
from shared.tenants import Registry


class Batch:
    """What one batch's transaction already knows, and the rows waiting to be written."""

    def __init__(self, books: Books, registry: Registry, ids: list[str], events: list[Event], trusting: bool):
        """`ids` are the `events`' ids, as text. `trusting`, the batch's plain charges are taken to be new
        and not looked up: the unique keys of their rows check it. Refusals are looked up either way: a
        refused event has no row to collide with, and must get the same answer again."""
        self.books, self.registry = books, registry
        self.refused = books.refused_events(ids)
        if trusting:
            self.known = books.known_events([i for i, e in zip(ids, events) if not plain_charge(e)])
            self.taken: set[str] = set()
        else:
            self.known = books.known_events(ids)
            self.taken = books.taken_charge_ids([str(e.data.get("charge_id")) for e in events if e.type == CHARGE])
        self.now = datetime.now(UTC)  # when its events are applied and its charges posted
        self.statements: dict[str, str] = {}  # period -> the statement it goes on; stable under the lock
        self.billed: dict[tuple[str, str], str] = {}  # (tenant, period) -> who answers for it
        self.events: list[dict] = []
        self.charges: list[dict] = []
        self.postings: list[dict] = []
        self.refusals: list[dict] = []

    def seen(self, event_id: str, event: Event, digest: str) -> bool | Unpostable:
        """True for a redelivery of an applied event, its refusal for one refused before, else False;
        Conflict for the same id with other content."""
        known = self.known.get(event_id)
        refused = self.refused.get(event_id)
        if known is None and refused is None:
            return False
        if not same_content(known or refused["content_sha256"], event, digest):
            raise Conflict(f"event {event_id} was applied before with different content")
        if refused is None:
            return True
        again = Unpostable(refused["reason"], refused["code"], **json.loads(refused["detail"]))
        again.subject, again.refused_at = refused["subject"], aware(refused["refused_at"])
        return again

    def statement(self, period: str) -> str:
        if period not in self.statements:
            self.statements[period] = shown_on(period, self.books.closed_periods(period))
        return self.statements[period]

    def add(self, event_id: str, event: Event, digest: str) -> None:
        """Queue the rows of a plain charge (not a correction)."""
        charge, tenant = event.data, event.tenant
        if charge["charge_id"] in self.taken:
            raise Conflict(f"event {event_id} repeats a charge or cost id recorded under another event")
        period = charge["period"]
        statement = self.statement(period)
        key = (tenant, period)
        if key not in self.billed:  # raises Unpostable, uncached, for a tenant that cannot be billed
            self.billed[key] = billed(self.registry, tenant, period, statement, f"charge {charge['charge_id']}")
        billed_tenant = self.billed[key]
        self.events.append({"event_id": event_id, "event_type": event.type, "content_sha256": digest,
                            "applied_at": self.now})
        self.charges.append(charge_row(event_id, charge, tenant, billed_tenant))
        self.postings += charge_postings(event_id, charge, tenant, billed_tenant, statement, self.now)
        self.known[event_id] = digest
        self.taken.add(charge["charge_id"])

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


def plain_charge(event: Event) -> bool:
    """A charge that is not a correction: the bulk of the stream, posted by the batch's fast path."""
    return event.type == CHARGE and event.data["kind"] != "correction"


def subject_of(event: Event) -> str | None:
    """The charge or cost an event is about."""
    subject = event.data.get("charge_id") or event.data.get("cost_id") or event.subject
    return str(subject)[:100] if subject else None
