"""The ledger's write side: apply charge and shared-cost events exactly once, in double entry."""

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import IntegrityError

from services.finance.ledger import tables as t
from services.finance.ledger.batch import Batch
from services.finance.ledger.entries import (
    Conflict,
    Unpostable,
    apportion_cost,
    charge_row,
    check_period,
    content_hash,
    is_closed,
    lock,
    post_pair,
    statement_period,
)
from shared.contracts import ChargeRecorded, SharedCostRecorded
from shared.contracts.names import CHARGE_RECORDED as CHARGE
from shared.contracts.names import SHARED_COST_RECORDED as SHARED_COST
from shared.events import Event
from shared.fields import first_day
from shared.tenants import Registry, RegistryError


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
        """Post one event the batch has not seen: under the writers' lock a redelivery or a reused event id
        was caught by `Batch.seen`, so a unique key that still fails is a charge or cost id reused."""
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
            raise Conflict(f"event {event.id} repeats a charge or cost id recorded under another event") from None

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
        check_period(self.registry, cost.period)
        row = {"cost_id": str(cost.cost_id), "event_id": str(event.id), "service": cost.service,
               "description": cost.description, "amount": cost.amount, "period": cost.period, "basis": cost.basis,
               "recorded_by": cost.recorded_by, "apportioned": 0}
        c.execute(insert(t.shared_costs), row)
        if is_closed(c, cost.period):  # late: its shares go on the next open statement now
            apportion_cost(c, self.registry, row, statement_period(c, cost.period))
