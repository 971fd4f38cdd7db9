"""The ledger's write side: apply a charge or a shared-cost event exactly once, in double entry."""

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from services.finance.ledger import tables as t
from services.finance.ledger.apportionment import ApportionmentError, Share, first_day, next_period, shares
from shared.contracts import ChargeRecorded, SharedCostRecorded
from shared.events import Event
from shared.tenants import Registry, RegistryError

CHARGE = "uk.hps.finance.charge.recorded"
SHARED_COST = "uk.hps.finance.shared-cost.recorded"
ZERO = Decimal("0.00")


class Conflict(ValueError):
    """An event id seen before with different content: never posted twice, never overwritten."""


class Unpostable(ValueError):
    """A well-formed event the ledger cannot post (unknown tenant on that date, nothing to correct)."""


def content_hash(event: Event) -> str:
    body = event.model_dump(mode="json", exclude={"time"})
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def lock(c: Connection) -> None:
    """Serialise ledger writers; see tables.control."""
    c.execute(update(t.control).where(t.control.c.id == 1).values(writes=t.control.c.writes + 1))


def is_closed(c: Connection, period: str) -> bool:
    return c.execute(select(t.periods.c.status).where(t.periods.c.period == period)).scalar() == "closed"


def statement_period(c: Connection, period: str) -> str:
    """The period whose statement shows an entry for `period`: itself, or the next open one."""
    while is_closed(c, period):
        period = next_period(period)
    return period


def pair(*, event_id: str, source: str, source_id: str, tenant: str, service: str, amount: Decimal, period: str,
         original_period: str, basis: str | None = None, exact_share: Decimal | None = None) -> list[dict]:
    """Debit the tenant's receivable, credit the service's income (a negative amount swaps the sides)."""
    debit, credit = (amount, ZERO) if amount >= 0 else (ZERO, -amount)
    common = {"event_id": event_id, "source": source, "source_id": source_id, "service": service, "period": period,
              "original_period": original_period, "basis": basis, "posted_at": datetime.now(UTC), "tenant": tenant}
    return [{**common, "account": f"receivable:{tenant}", "debit": debit, "credit": credit,
             "exact_share": str(exact_share) if exact_share is not None else None},
            {**common, "account": f"income:{service}", "debit": credit, "credit": debit, "exact_share": None}]


def post_pair(c: Connection, **entry) -> None:
    c.execute(insert(t.postings), pair(**entry))


def post_shares(c: Connection, cost: dict, cost_shares: list[Share], period: str) -> None:
    for share in cost_shares:
        post_pair(c, event_id=cost["event_id"], source="shared_cost", source_id=cost["cost_id"], tenant=share.tenant,
                  service=cost["service"], amount=share.amount, period=period, original_period=cost["period"],
                  basis=cost["basis"], exact_share=share.exact)
    c.execute(update(t.shared_costs).where(t.shared_costs.c.cost_id == cost["cost_id"]).values(apportioned=1))


def usage(c: Connection, service: str, period: str) -> dict[str, Decimal]:
    """Each tenant's direct charges net of reversals for `service` in `period`."""
    p = t.postings.c
    rows = c.execute(select(p.tenant, func.sum(p.debit - p.credit)).where(
        p.account.like("receivable:%"), p.service == service, p.original_period == period,
        p.source.in_(("charge", "reversal"))).group_by(p.tenant)).all()
    return {tenant: Decimal(total) for tenant, total in rows}


def apportion_cost(c: Connection, registry: Registry, cost: dict, period: str) -> None:
    try:
        cost_shares = shares(registry, cost["basis"], cost["period"], Decimal(cost["amount"]),
                             usage(c, cost["service"], cost["period"]))
    except (ApportionmentError, RegistryError) as exc:
        raise Unpostable(f"shared cost {cost['cost_id']}: {exc}") from None
    post_shares(c, cost, cost_shares, period)


class Ledger:
    def __init__(self, engine: Engine, registry: Registry):
        self.engine, self.registry = engine, registry

    def apply(self, event: Event) -> bool:
        """Post `event` once; False if it was applied before. Raises Conflict or Unpostable."""
        [result] = self.apply_all([event])
        if isinstance(result, Exception):
            raise result
        return result

    def apply_all(self, events: list[Event]) -> list[bool | Conflict | Unpostable]:
        """Post a batch in one transaction; each result says what became of its event.

        Plain charges, the bulk of any stream, are checked in Python against what the batch and
        the database already hold, and written together with one multi-row insert per table.
        Corrections and shared costs take the careful path, one savepoint each, after the rows
        before them are written. Either way an event that cannot be posted changes nothing."""
        results: list[bool | Conflict | Unpostable] = []
        with self.engine.begin() as c:
            lock(c)
            batch = Batch(c, events)
            for event in events:
                digest = content_hash(event)
                try:
                    if batch.seen(event, digest):
                        results.append(False)
                        continue
                    charge = ChargeRecorded.model_validate(event.data) if event.type == CHARGE else None
                    if charge is not None and charge.kind != "correction":
                        batch.add(event, digest, charge, self._billed(event, charge))
                        results.append(True)
                    else:
                        batch.flush()
                        results.append(self._apply(c, event))
                        batch.known[str(event.id)] = digest
                except (Conflict, Unpostable) as exc:
                    results.append(exc)
            batch.flush()
        return results

    def _billed(self, event: Event, charge: ChargeRecorded) -> str:
        try:
            return self.registry.accountable(event.tenant, first_day(charge.period)).code
        except RegistryError as exc:
            raise Unpostable(f"charge {charge.charge_id}: {exc}") from None

    def _apply(self, c: Connection, event: Event) -> bool:
        """The unique event id is the guard: a second insert of it fails, and only then do we look."""
        digest = content_hash(event)
        try:
            with c.begin_nested():
                # Parameters apart from the statement: it compiles once and is reused from the cache.
                c.execute(insert(t.events), {"event_id": str(event.id), "event_type": event.type,
                                             "content_sha256": digest, "applied_at": datetime.now(UTC)})
                if event.type == CHARGE:
                    self._charge(c, event, ChargeRecorded.model_validate(event.data))
                elif event.type == SHARED_COST:
                    self._shared_cost(c, event, SharedCostRecorded.model_validate(event.data))
                else:
                    raise Unpostable(f"the ledger does not post {event.type}")
            return True
        except IntegrityError:
            seen = c.execute(select(t.events.c.content_sha256).where(t.events.c.event_id == str(event.id))).scalar()
            if seen == digest:
                return False
            if seen is None:
                raise Conflict(f"event {event.id} repeats a charge or cost id recorded under another event") from None
            raise Conflict(f"event {event.id} was applied before with different content") from None

    def _charge(self, c: Connection, event: Event, charge: ChargeRecorded) -> None:
        billed = self._billed(event, charge)
        shown_on = statement_period(c, charge.period)
        if charge.kind == "correction":
            self._reverse(c, event, charge, shown_on)
        c.execute(insert(t.charges), charge_row(event, charge, billed))
        post_pair(c, event_id=str(event.id), source="charge", source_id=str(charge.charge_id), tenant=billed,
                  service=charge.service, amount=charge.amount, period=shown_on, original_period=charge.period)

    def _reverse(self, c: Connection, event: Event, correction: ChargeRecorded, shown_on: str) -> None:
        if correction.corrects is None:
            raise Unpostable("a correction must name the charge it corrects")
        original = c.execute(select(t.charges).where(t.charges.c.charge_id == str(correction.corrects))).mappings().first()
        if original is None:
            raise Unpostable(f"correction of unknown charge {correction.corrects}")
        already = c.execute(select(t.postings.c.id).where(t.postings.c.source == "reversal",
                                                          t.postings.c.source_id == original["charge_id"])).first()
        if already:
            raise Unpostable(f"charge {original['charge_id']} was corrected already; correct the correction")
        post_pair(c, event_id=str(event.id), source="reversal", source_id=original["charge_id"],
                  tenant=original["billed_tenant"], service=original["service"], amount=-Decimal(original["amount"]),
                  period=shown_on, original_period=original["period"])

    def _shared_cost(self, c: Connection, event: Event, cost: SharedCostRecorded) -> None:
        row = {"cost_id": str(cost.cost_id), "event_id": str(event.id), "service": cost.service,
               "description": cost.description, "amount": cost.amount, "period": cost.period, "basis": cost.basis,
               "recorded_by": cost.recorded_by, "apportioned": 0}
        c.execute(insert(t.shared_costs), row)
        if is_closed(c, cost.period):  # late: its shares go on the next open statement now
            apportion_cost(c, self.registry, row, statement_period(c, cost.period))


def charge_row(event: Event, charge: ChargeRecorded, billed: str) -> dict:
    return dict(
        charge_id=str(charge.charge_id), event_id=str(event.id), tenant=event.tenant, billed_tenant=billed,
        service=charge.service, request_type=charge.request_type, kind=charge.kind, quantity=charge.quantity,
        unit_price=charge.unit_price, amount=charge.amount, cost_centre=charge.cost_centre, period=charge.period,
        request_id=str(charge.request_id) if charge.request_id else None, description=charge.description,
        corrects=str(charge.corrects) if charge.corrects else None)


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
