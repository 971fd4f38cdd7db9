"""The ledger on SQLite driven by random histories: charges, shared costs and credits, corrections,
withdrawals and re-bases, refused entries, re-sent batches in any order and period closes (some
blocked by a cost nobody used). After every step the books must hold, and every statement issued
must show what a simple model of the history says it should."""

import json
import shutil
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import func, select

from services.finance.ledger import tables as t
from services.finance.ledger.book import Ledger
from services.finance.ledger.closing import MonthEnd, PeriodBlocked, PeriodClosed
from services.finance.ledger.entries import Unpostable
from services.finance.ledger.schema import upgrade
from services.finance.ledger.signing import Signer
from shared.db import engine as make_engine
from shared.fields import first_day
from tests.integration.test_ledger import charge, counts, registry, shared_cost, stored_statements, withdrawal

PERIODS = ("2026-09", "2026-10", "2026-11")  # closed in this order; what is late for them lands on the next
AFTER = "2026-12"  # the statement everything lands on once all three are closed (never closed here)
SERVICES = ("it", "hr")
BASES = ("staff", "sites", "budget", "fixed", "usage")
PARTS = ("direct_charges", "shared_costs", "corrections", "prior_period_adjustments")
pence = st.integers(min_value=1, max_value=10**8).map(lambda p: str(Decimal(p).scaleb(-2)))
# A shared cost, or now and then a credit (a negative amount, with its reason).
signed = st.one_of(pence, pence.map(lambda amount: f"-{amount}"))


def net(rows) -> Decimal:
    return sum((Decimal(debit) - Decimal(credit) for debit, credit in rows), Decimal(0))


def partners(period: str) -> list[str]:
    return sorted(tenant.code for tenant in registry.active(first_day(period)))


@dataclass
class Cost:
    event: object
    late: bool  # recorded once its period was closed: apportioned at once
    pending: "Expected | None"  # its share of the close, while it waits for it
    withdrawn: bool = False

    def __getattr__(self, name):  # the cost's own fields, from its event
        if name == "event":
            raise AttributeError(name)
        return self.event.data[name]


@dataclass(frozen=True)
class Expected:
    """An amount the model expects on a statement: which period's, in which part, whose (None for a
    shared cost, which the ledger splits)."""
    shown_on: str
    part: str
    tenant: str | None
    amount: Decimal


class LedgerHistory(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.folder = Path(tempfile.mkdtemp())
        self.db = make_engine(f"sqlite:///{self.folder / 'ledger.db'}")
        upgrade(self.db)
        self.ledger, self.month_end = Ledger(self.db, registry), MonthEnd(self.db, registry, Signer.generated())
        self.sent = []  # every event the ledger took, in order
        self.charges: dict[str, object] = {}  # charge id -> its event
        self.amounts: dict[str, Decimal] = {}  # charge id -> what it comes to now (0 once corrected)
        self.corrections: dict[str, str] = {}  # charge id -> the id of the charge that corrects it
        self.costs: list[Cost] = []
        self.refused_events = []  # every event the ledger refused
        self.expected: list[Expected] = []
        self.closed: list[str] = []
        self.statements: list[dict] = []

    def teardown(self):
        self.db.dispose()
        shutil.rmtree(self.folder, ignore_errors=True)

    # The model.

    def shown_on(self, period: str) -> str:
        """The statement an entry for `period` goes on: its own, or the next one still open."""
        return next((p for p in PERIODS if p >= period and p not in self.closed), AFTER)

    def used(self, service: str, period: str) -> bool:
        return any(e.data["service"] == service and e.data["period"] == period and self.amounts[charge_id] > 0
                   for charge_id, e in self.charges.items())

    def uncorrected(self) -> list[str]:
        """Charges not yet corrected, in the order recorded (ids are random: an order by id would
        differ from run to run, and hypothesis could not replay a history)."""
        return [charge_id for charge_id in self.charges if charge_id not in self.corrections]

    def apply(self, event) -> None:
        assert self.ledger.apply(event) is True
        self.sent.append(event)

    def refused(self, event, reason: str) -> None:
        """The ledger refuses `event` and nothing changes: no posting, no record of the event; its
        refusal is kept, once, and a redelivery is refused the same way."""
        before, refusals = self.books(), self.refusals()
        with pytest.raises(Unpostable, match=reason) as first:
            self.ledger.apply(event)
        with pytest.raises(Unpostable) as again:
            self.ledger.apply(event)
        assert (again.value.reason, again.value.code) == (first.value.reason, first.value.code)
        assert self.books() == before
        assert self.refusals() == refusals + 1
        self.refused_events.append(event)

    def refusals(self) -> int:
        with self.db.connect() as c:
            return c.execute(select(func.count()).select_from(t.refusals)).scalar()

    def withdrawable(self) -> list[Cost]:
        return [cost for cost in self.costs if not cost.withdrawn]

    def record(self, event, late: bool) -> None:
        """The model of a shared cost taken by the ledger: apportioned at once if late, else at its close."""
        amount, period = Decimal(event.data["amount"]), event.data["period"]
        expected = Expected(self.shown_on(period), "prior_period_adjustments" if late else "shared_costs", None, amount)
        self.expected.append(expected)
        self.costs.append(Cost(event, late, None if late else expected))

    def books(self) -> tuple:
        with self.db.connect() as c:
            sums = c.execute(select(func.sum(t.postings.c.debit), func.sum(t.postings.c.credit))).one()
        return counts(self.db), tuple(sums)

    # What happens.

    @rule(data=st.data(), amount=pence, period=st.sampled_from(PERIODS), service=st.sampled_from(SERVICES))
    def record_a_charge(self, data, amount, period, service):
        tenant = data.draw(st.sampled_from(partners(period)))
        event = charge(tenant, amount, period, service=service)
        self.apply(event)
        charge_id = event.data["charge_id"]
        self.charges[charge_id], self.amounts[charge_id] = event, Decimal(amount)
        shown_on = self.shown_on(period)
        part = "direct_charges" if shown_on == period else "prior_period_adjustments"
        self.expected.append(Expected(shown_on, part, tenant, Decimal(amount)))

    @rule(data=st.data(), amount=signed, service=st.sampled_from(SERVICES))
    def record_a_shared_cost(self, data, amount, service):
        basis, period = data.draw(st.sampled_from([(basis, period) for basis in BASES for period in PERIODS]))
        credit = {"reason": "Refund from the supplier"} if amount.startswith("-") else {}
        event = shared_cost(amount, basis, period, service=service, **credit)
        if basis == "usage" and period in self.closed and not self.used(service, period):
            # Late, and nobody used the service that month: refused outright.
            self.refused(event, f"no tenant used the service in {period}")
            return
        # For an open month usage may yet come; if none does, the cost blocks the close (see below).
        self.apply(event)
        self.record(event, late=period in self.closed)

    @precondition(lambda self: self.withdrawable())
    @rule(data=st.data(), rebasis=st.sampled_from([None, "staff", "sites", "budget", "fixed"]))
    def withdraw_or_rebasis_a_shared_cost(self, data, rebasis):
        cost = data.draw(st.sampled_from(self.withdrawable()))
        event = withdrawal(cost.event, rebasis=rebasis)
        self.apply(event)
        cost.withdrawn = True
        if cost.pending:  # never apportioned: it simply stops counting
            self.expected.remove(cost.pending)
        else:  # each share reversed on the next open statement
            self.expected.append(Expected(self.shown_on(cost.period), "prior_period_adjustments", None,
                                          -Decimal(cost.amount)))
        if rebasis:  # the same cost again, on the new basis, under its replacement id
            again = shared_cost(cost.amount, rebasis, cost.period, service=cost.service, reason=cost.reason,
                                cost_id=event.data["replacement_id"])
            self.record(again, late=cost.period in self.closed)

    @precondition(lambda self: any(cost.withdrawn for cost in self.costs))
    @rule(data=st.data())
    def withdraw_a_shared_cost_twice(self, data):
        cost = data.draw(st.sampled_from([cost for cost in self.costs if cost.withdrawn]))
        self.refused(withdrawal(cost.event), "was withdrawn already")

    @precondition(lambda self: self.uncorrected())
    @rule(data=st.data(), amount=pence)
    def correct_a_charge(self, data, amount):
        # Any charge not yet corrected, a correction included: a wrong correction is corrected in turn.
        original_id = data.draw(st.sampled_from(self.uncorrected()))
        original = self.charges[original_id]
        period, service = original.data["period"], original.data["service"]
        correction = charge(original.tenant, amount, period, service=service, kind="correction",
                            corrects=original_id)
        self.apply(correction)
        correction_id = correction.data["charge_id"]
        self.charges[correction_id], self.corrections[original_id] = correction, correction_id
        self.amounts[original_id], self.amounts[correction_id] = Decimal(0), Decimal(amount)
        # The reversal and the correction both show as corrections on the period's own statement if it
        # is still open, else as prior-period adjustments on the next open one.
        shown_on = self.shown_on(period)
        part = "corrections" if shown_on == period else "prior_period_adjustments"
        self.expected += [Expected(shown_on, part, original.tenant, -Decimal(original.data["amount"])),
                          Expected(shown_on, part, original.tenant, Decimal(amount))]

    @precondition(lambda self: self.corrections)
    @rule(data=st.data(), amount=pence)
    def correct_a_charge_twice(self, data, amount):
        original = self.charges[data.draw(st.sampled_from(list(self.corrections)))]
        again = charge(original.tenant, amount, original.data["period"], service=original.data["service"],
                       kind="correction", corrects=original.data["charge_id"])
        self.refused(again, "was corrected already; correct the correction")

    @precondition(lambda self: self.sent)
    @rule(data=st.data())
    def resend_a_batch_in_any_order(self, data):
        batch = data.draw(st.permutations(data.draw(st.lists(st.sampled_from(self.sent + self.refused_events),
                                                             min_size=1, max_size=8))))
        before, refusals = self.books(), self.refusals()
        results = self.ledger.apply_all(batch)
        # Applied ones again change nothing; refused ones are refused again, and no refusal is kept twice.
        assert [isinstance(r, Unpostable) for r in results] == [e in self.refused_events for e in batch]
        assert [r for r in results if not isinstance(r, Unpostable)] == [False] * sum(e in self.sent for e in batch)
        assert (self.books(), self.refusals()) == (before, refusals)

    @precondition(lambda self: len(self.closed) < len(PERIODS))
    @rule()
    def close_the_earliest_open_period(self):
        period = PERIODS[len(self.closed)]
        blocked = sorted(cost.cost_id for cost in self.costs if cost.pending and cost.period == period
                         and not cost.withdrawn and cost.basis == "usage" and not self.used(cost.service, period))
        if blocked:  # a usage cost nobody used: the close says which, and issues nothing
            before = self.books()
            with pytest.raises(PeriodBlocked) as refused:
                self.month_end.close(period, "finance")
            assert sorted(b.cost["cost_id"] for b in refused.value.blockers) == blocked
            assert sorted(b.cost["cost_id"] for b in self.month_end.preview(period).blockers) == blocked
            assert self.books() == before
            return
        issued = self.month_end.close(period, "finance")
        for cost in self.costs:
            if cost.period == period:
                cost.pending = None
        self.closed.append(period)
        self.statements += issued
        # One statement per partner of the month, and between them exactly what the model put on it.
        assert [s["tenant"]["code"] for s in issued] == partners(period)
        on_it = [e for e in self.expected if e.shown_on == period]
        for part in PARTS:
            assert sum(Decimal(s["totals"][part]) for s in issued) == \
                sum((e.amount for e in on_it if e.part == part), Decimal(0)), part
        assert sum(Decimal(s["totals"]["total"]) for s in issued) == sum((e.amount for e in on_it), Decimal(0))
        for s in issued:  # a partner's own direct charges are known to the penny without any apportioning
            assert Decimal(s["totals"]["direct_charges"]) == sum(
                (e.amount for e in on_it if e.part == "direct_charges" and e.tenant == s["tenant"]["code"]),
                Decimal(0))

    @precondition(lambda self: self.closed)
    @rule(data=st.data())
    def close_a_closed_period_again(self, data):
        before = self.books()
        with pytest.raises(PeriodClosed):
            self.month_end.close(data.draw(st.sampled_from(self.closed)), "finance")
        assert self.books() == before

    # What must hold after every step.

    @invariant()
    def debits_equal_credits_in_all_and_for_every_event(self):
        with self.db.connect() as c:
            debits, credits = c.execute(select(func.sum(t.postings.c.debit), func.sum(t.postings.c.credit))).one()
            unequal = c.execute(select(t.postings.c.event_id).group_by(t.postings.c.event_id).having(
                func.sum(t.postings.c.debit) != func.sum(t.postings.c.credit))).all()
        assert debits == credits
        assert unequal == []

    @invariant()
    def the_tenants_owe_every_charge_and_every_apportioned_cost(self):
        # A shared cost is apportioned when its period closes, or at once if it came late; a withdrawn
        # one is owed by nobody (its shares reversed, or never posted).
        apportioned = sum((Decimal(cost.amount) for cost in self.costs
                           if not cost.withdrawn and (cost.late or cost.period in self.closed)), Decimal(0))
        with self.db.connect() as c:
            owed = net(c.execute(select(t.postings.c.debit, t.postings.c.credit)
                                 .where(t.postings.c.account.like("receivable:%"))).all())
        assert owed == sum(self.amounts.values(), Decimal(0)) + apportioned

    @invariant()
    def a_reversal_and_its_correction_net_to_the_corrected_amount(self):
        with self.db.connect() as c:
            for original, correction in self.corrections.items():
                rows = c.execute(select(t.postings.c.debit, t.postings.c.credit).where(
                    t.postings.c.source_id.in_((original, correction)),
                    t.postings.c.account.like("receivable:%"))).all()
                # The correction's own amount, or nothing if it was corrected in turn (its successor
                # carries the amount then).
                assert net(rows) == self.amounts[correction]

    @invariant()
    def every_closed_period_reconciles_to_the_penny(self):
        for period in self.closed:
            assert [r for r in self.month_end.reconcile(period).services if r.difference] == [], period

    @invariant()
    def each_statement_is_the_sum_of_its_lines_and_stays_as_issued(self):
        for s in self.statements:
            for group in s["direct_charges"]:
                assert Decimal(group["amount"]) == sum(Decimal(x["amount"]) for x in group["lines"])
            parts = {"direct_charges": [Decimal(g["amount"]) for g in s["direct_charges"]],
                     "shared_costs": [Decimal(x["share"]) for x in s["shared_costs"]],
                     "corrections": [Decimal(x["amount"]) for x in s["corrections"]],
                     "prior_period_adjustments": [Decimal(x["amount"]) for x in s["prior_period_adjustments"]]}
            # A credit's shares are credits, shown as such; a cost's are not.
            assert all(x["credit"] == (Decimal(x["cost_total"]) < 0) for x in s["shared_costs"])
            for part, amounts in parts.items():
                assert sum(amounts, Decimal(0)) == Decimal(s["totals"][part]), (s["statement_number"], part)
            assert sum(map(Decimal, (s["totals"][p] for p in PARTS))) == Decimal(s["totals"]["total"])
        assert [json.loads(row.body) for row in stored_statements(self.db)] == self.statements


LedgerHistory.TestCase.settings = settings(max_examples=25, stateful_step_count=20, deadline=None,
                                           suppress_health_check=[HealthCheck.too_slow])
TestLedgerHistory = LedgerHistory.TestCase
