"""The fast path of a batch: plain charges checked in Python and written with multi-row inserts."""

from datetime import UTC, datetime

from sqlalchemy import Connection, insert, select

from services.finance.ledger import tables as t
from services.finance.ledger.entries import Conflict, charge_row, pair, statement_period
from shared.contracts import ChargeRecorded
from shared.contracts.names import CHARGE_RECORDED as CHARGE
from shared.events import Event


class Batch:
    """What one batch's transaction already knows, and the plain charges waiting to be written."""

    def __init__(self, c: Connection, events: list[Event]):
        self.c = c
        ids = [str(e.id) for e in events]
        charge_ids = [str(e.data.get("charge_id")) for e in events if e.type == CHARGE]
        self.known = dict(c.execute(select(t.events.c.event_id, t.events.c.content_sha256)
                                    .where(t.events.c.event_id.in_(ids))).all()) if ids else {}
        self.taken = set(c.execute(select(t.charges.c.charge_id).where(t.charges.c.charge_id.in_(charge_ids)))
                         .scalars()) if charge_ids else set()
        self.shown_on: dict[str, str] = {}  # period -> the statement it goes on; stable under the lock
        self.events: list[dict] = []
        self.charges: list[dict] = []
        self.postings: list[dict] = []

    def seen(self, event: Event, digest: str) -> bool:
        """True for a redelivery; Conflict for the same id with other content."""
        known = self.known.get(str(event.id))
        if known is not None and known != digest:
            raise Conflict(f"event {event.id} was applied before with different content")
        return known is not None

    def add(self, event: Event, digest: str, charge: ChargeRecorded, billed: str) -> None:
        if str(charge.charge_id) in self.taken:
            raise Conflict(f"event {event.id} repeats a charge or cost id recorded under another event")
        if charge.period not in self.shown_on:
            self.shown_on[charge.period] = statement_period(self.c, charge.period)
        self.events.append({"event_id": str(event.id), "event_type": event.type, "content_sha256": digest,
                            "applied_at": datetime.now(UTC)})
        self.charges.append(charge_row(event, charge, billed))
        self.postings += pair(event_id=str(event.id), source="charge", source_id=str(charge.charge_id), tenant=billed,
                              service=charge.service, amount=charge.amount, period=self.shown_on[charge.period],
                              original_period=charge.period)
        self.known[str(event.id)] = digest
        self.taken.add(str(charge.charge_id))

    def flush(self) -> None:
        for table, rows in ((t.events, self.events), (t.charges, self.charges), (t.postings, self.postings)):
            if rows:
                self.c.execute(insert(table), rows)
            rows.clear()
