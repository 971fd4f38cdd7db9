"""The ledger's write side: apply charge and shared-cost events exactly once, in double entry.

An event is applied (its postings written under its id) or refused (the refusal recorded under its
id, with the reason, for whoever asked); either way once, and a redelivery gets the same answer.
"""

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from services.finance.ledger import disputes
from services.finance.ledger.apportionment import shares, why_not
from services.finance.ledger.batch import Batch, plain_charge
from services.finance.ledger.entries import (
    Charge,
    Conflict,
    Unpostable,
    billed,
    charge_postings,
    charge_row,
    check_period,
    content_hash,
    reversal_postings,
    share_postings,
    withdrawal_postings,
)
from services.finance.ledger.repository import Books
from shared.contracts import DisputeAccepted, DisputeRaised, DisputeRejected, SharedCostRecorded, SharedCostWithdrawn
from shared.contracts.names import CHARGE_RECORDED as CHARGE
from shared.contracts.names import DISPUTE_ACCEPTED, DISPUTE_RAISED, DISPUTE_REJECTED
from shared.contracts.names import SHARED_COST_RECORDED as SHARED_COST
from shared.contracts.names import SHARED_COST_WITHDRAWN as WITHDRAWN
from shared.events import Event
from shared.tenants import Registry

Result = bool | Conflict | Unpostable
ANSWERS = {DISPUTE_ACCEPTED: DisputeAccepted, DISPUTE_REJECTED: DisputeRejected}


class Unverified(Exception):
    """A plain charge taken to be new is to be refused: whether it was applied before must be read first."""


class Ledger:
    def __init__(self, engine: Engine, registry: Registry):
        self.engine, self.registry = engine, registry

    def apply(self, event: Event) -> bool:
        """Post `event` once; False if it was applied before. Raises Conflict, or Unpostable (also
        for a redelivery of an event refused before)."""
        [result] = self.apply_all([event])
        if isinstance(result, Exception):
            raise result
        return result

    def apply_all(self, events: list[Event]) -> list[Result]:
        """Post a batch in one transaction; each result says what became of its event: True (applied
        now), False (applied before), Unpostable (refused, now or before; recorded) or Conflict.

        Plain charges, the bulk of any stream, are checked in Python against what the batch and
        the database already hold, and written together, one bulk write per table. Corrections,
        shared costs and withdrawals take the careful path, one savepoint each, after the rows
        before them are written. Either way an event that cannot be posted posts nothing.

        A batch's plain charges are first taken to be new, as all but a redelivery's are, and the
        unique keys of the event and charge ids check it: if they refuse the batch, or one of those
        charges is to be refused (it may have been applied before), the batch is rolled back and posted
        again, reading first which of its events and charges the ledger holds."""
        try:
            return self._post(events, trusting=True)
        except (IntegrityError, Unverified):
            return self._post(events, trusting=False)

    def _post(self, events: list[Event], trusting: bool) -> list[Result]:
        results: list[Result] = []
        with self.engine.begin() as c:
            books = Books(c)
            books.lock()
            ids = [str(event.id) for event in events]
            batch = Batch(books, self.registry, ids, events, trusting)
            for event_id, event in zip(ids, events):
                digest = content_hash(event)
                try:
                    seen = batch.seen(event_id, event, digest)
                    if seen is not False:
                        results.append(seen if isinstance(seen, Unpostable) else False)
                        continue
                    if plain_charge(event):
                        batch.add(event_id, event, digest)
                    else:
                        batch.flush()
                        self._apply(books, batch, event, digest)
                        batch.known[event_id] = digest
                    results.append(True)
                except Conflict as exc:
                    results.append(exc)
                except Unpostable as exc:
                    if trusting and plain_charge(event):
                        raise Unverified(event_id) from exc
                    batch.refuse(event, digest, exc)
                    results.append(exc)
            batch.flush()
        return results

    def _apply(self, books: Books, batch: Batch, event: Event, digest: str) -> None:
        """Post one event the batch has not seen: under the writers' lock a redelivery or a reused event id
        was caught by `Batch.seen`, so a unique key that still fails is a charge or cost id reused."""
        try:
            with books.savepoint():
                books.add_events([{"event_id": str(event.id), "event_type": event.type, "content_sha256": digest,
                                   "applied_at": datetime.now(UTC)}])
                if event.type == CHARGE:  # a correction: plain charges take the batch's fast path
                    self._correction(books, batch, event, event.data)
                elif event.type == SHARED_COST:
                    self._shared_cost(books, batch, str(event.id), SharedCostRecorded.model_validate(event.data))
                elif event.type == WITHDRAWN:
                    self._withdraw(books, batch, event, SharedCostWithdrawn.model_validate(event.data))
                elif event.type == DISPUTE_RAISED:
                    disputes.record(books, event, DisputeRaised.model_validate(event.data))
                elif event.type in ANSWERS:
                    disputes.answer(books, self.registry, batch.statement, event,
                                    ANSWERS[event.type].model_validate(event.data))
                else:
                    raise Unpostable(f"the ledger does not post {event.type}", "unsupported")
        except IntegrityError:
            raise Conflict(f"event {event.id} repeats a charge or cost id recorded under another event") from None

    def _correction(self, books: Books, batch: Batch, event: Event, charge: Charge) -> None:
        """The charge it corrects reversed in full, and the corrected charge posted."""
        statement = batch.statement(charge["period"])
        tenant = billed(self.registry, event.tenant, charge["period"], statement, f"charge {charge['charge_id']}")
        self._reverse(books, batch, event, charge)
        books.add_charges([charge_row(str(event.id), charge, event.tenant, tenant)])
        books.add_postings(charge_postings(str(event.id), charge, event.tenant, tenant, statement))

    def _reverse(self, books: Books, batch: Batch, event: Event, correction: Charge) -> None:
        if correction["corrects"] is None:
            raise Unpostable("a correction must name the charge it corrects")
        original = books.charge(correction["corrects"])
        if original is None:
            raise Unpostable(f"correction of unknown charge {correction['corrects']}", "not_found")
        if corrected_by := books.correction_of(original["charge_id"]):
            raise Unpostable(f"charge {original['charge_id']} was corrected already; correct the correction, "
                             f"charge {corrected_by}, instead", "already_corrected", corrected_by=corrected_by)
        if credited := books.disputes(line_id=original["charge_id"], status="accepted"):
            raise Unpostable(f"charge {original['charge_id']} was credited by dispute {credited[0]['dispute_id']}; "
                             "a correction would credit it twice", "already_credited",
                             dispute_id=credited[0]["dispute_id"])
        statement = batch.statement(original["period"])
        tenant = billed(self.registry, original["tenant"], original["period"], statement,
                        f"reversal of charge {original['charge_id']}")
        books.add_postings(reversal_postings(event, original, tenant, statement))

    def _shared_cost(self, books: Books, batch: Batch, event_id: str, cost: SharedCostRecorded,
                     replaces: str | None = None) -> None:
        self._record_cost(books, batch, {
            "cost_id": str(cost.cost_id), "event_id": event_id, "service": cost.service,
            "description": cost.description, "amount": cost.amount, "period": cost.period, "basis": cost.basis,
            "recorded_by": cost.recorded_by, "apportioned": 0, "reason": cost.reason, "replaces": replaces})

    def _record_cost(self, books: Books, batch: Batch, row: dict) -> None:
        """Record a shared cost; one for a closed period is apportioned at once onto the next open
        statement. A cost its basis cannot apportion (as far as is known now) is refused."""
        check_period(self.registry, row["period"])
        closed = batch.statement(row["period"]) != row["period"]
        usage = books.usage(row["service"], row["period"]) if row["basis"] == "usage" else None
        if why := why_not(self.registry, row["basis"], row["period"], usage, closed):
            raise Unpostable(f"shared cost {row['cost_id']}: {why}", "cannot_apportion", basis=row["basis"])
        books.add_shared_cost(row)
        if closed:  # late: its shares go on the next open statement now
            cost_shares = shares(self.registry, row["basis"], row["period"], Decimal(row["amount"]), usage)
            books.add_postings(share_postings(self.registry, row, cost_shares, batch.statement(row["period"])))
            books.mark_apportioned(row["cost_id"])

    def _withdraw(self, books: Books, batch: Batch, event: Event, withdrawn: SharedCostWithdrawn) -> None:
        """Take a shared cost back: a cost not yet apportioned stops counting; an apportioned one has
        each share reversed on the next open statement. Nothing is updated. A re-basis records the
        same cost again on the new basis, under its replacement id, in the same transaction."""
        cost_id = str(withdrawn.cost_id)
        cost = books.shared_cost(cost_id)
        if cost is None:
            raise Unpostable(f"withdrawal of unknown shared cost {cost_id}", "not_found")
        if cost["service"] != withdrawn.service:
            raise Unpostable(f"shared cost {cost_id} is a cost of {cost['service']}, not {withdrawn.service}")
        if done := books.withdrawal(cost_id):
            raise Unpostable(f"shared cost {cost_id} was withdrawn already", "already_withdrawn",
                             withdrawn_by_event=done["event_id"], replacement_id=done["replacement_id"])
        reversed_on = None
        if cost["apportioned"]:
            reversed_on = batch.statement(cost["period"])
            posted = books.shares_posted(cost) + books.credits_of(cost_id)  # its disputes' credit notes too
            books.add_postings(withdrawal_postings(self.registry, str(event.id), cost, posted, reversed_on))
        books.add_withdrawal({"cost_id": cost_id, "event_id": str(event.id), "reason": withdrawn.reason,
                              "withdrawn_by": withdrawn.withdrawn_by, "rebasis": withdrawn.rebasis,
                              "replacement_id": str(withdrawn.replacement_id) if withdrawn.replacement_id else None,
                              "reversed_on": reversed_on, "withdrawn_at": datetime.now(UTC)})
        if withdrawn.rebasis:
            self._record_cost(books, batch, {
                **cost, "cost_id": str(withdrawn.replacement_id), "event_id": str(event.id),
                "basis": withdrawn.rebasis, "recorded_by": withdrawn.withdrawn_by, "apportioned": 0,
                "replaces": cost_id})
