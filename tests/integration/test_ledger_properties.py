"""The ledger on SQLite driven by random histories: charges, shared costs, corrections, re-sent
batches in any order and period closes. After every step the books must hold."""

import shutil
import tempfile
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import func, select

from services.finance.ledger import tables as t
from services.finance.ledger.book import Ledger
from services.finance.ledger.closing import MonthEnd
from services.finance.ledger.schema import upgrade
from shared.db import engine as make_engine
from tests.integration.test_ledger import charge, registry, shared_cost

PERIODS = ("2026-09", "2026-10", "2026-11")
TENANTS = ("council", "ccg", "hospital")
pence = st.integers(min_value=1, max_value=10**8).map(lambda p: str(Decimal(p).scaleb(-2)))


def net(rows) -> Decimal:
    return sum((Decimal(debit) - Decimal(credit) for debit, credit in rows), Decimal(0))


class LedgerHistory(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.folder = Path(tempfile.mkdtemp())
        self.db = make_engine(f"sqlite:///{self.folder / 'ledger.db'}")
        upgrade(self.db)
        self.ledger, self.month_end = Ledger(self.db, registry), MonthEnd(self.db, registry)
        self.sent = []  # every event applied, in order
        self.amounts: dict[str, Decimal] = {}  # charge id -> what it now comes to (after any correction)
        self.corrections: dict[str, str] = {}  # original charge id -> its correction's charge id
        self.costs: list[tuple[Decimal, str, bool]] = []  # (amount, period, recorded late)
        self.closed: list[str] = []
        self.statements: list[dict] = []

    def teardown(self):
        self.db.dispose()
        shutil.rmtree(self.folder, ignore_errors=True)

    def apply(self, event) -> None:
        assert self.ledger.apply(event) is True
        self.sent.append(event)

    @rule(tenant=st.sampled_from(TENANTS), amount=pence, period=st.sampled_from(PERIODS))
    def record_a_charge(self, tenant, amount, period):
        event = charge(tenant, amount, period)
        self.apply(event)
        self.amounts[event.data["charge_id"]] = Decimal(amount)

    @rule(amount=pence, basis=st.sampled_from(["staff", "sites", "budget", "fixed", "usage"]),
          period=st.sampled_from(PERIODS))
    def record_a_shared_cost(self, amount, basis, period):
        if basis == "usage" and not any(e.data.get("period") == period and "charge_id" in e.data for e in self.sent):
            return  # nobody used IT that month: see test_ledger for what becomes of such a cost
        self.apply(shared_cost(amount, basis, period))
        self.costs.append((Decimal(amount), period, period in self.closed))

    @precondition(lambda self: set(self.amounts) - set(self.corrections) - set(self.corrections.values()))
    @rule(data=st.data(), amount=pence)
    def correct_a_charge(self, data, amount):
        correctable = sorted(set(self.amounts) - set(self.corrections) - set(self.corrections.values()))
        original_id = data.draw(st.sampled_from(correctable))
        original = next(e for e in self.sent if e.data.get("charge_id") == original_id)
        correction = charge(original.tenant, amount, original.data["period"], kind="correction", corrects=original_id)
        self.apply(correction)
        self.corrections[original_id] = correction.data["charge_id"]
        self.amounts[original_id] = Decimal(0)
        self.amounts[correction.data["charge_id"]] = Decimal(amount)

    @precondition(lambda self: self.sent)
    @rule(data=st.data())
    def resend_a_batch_in_any_order(self, data):
        batch = data.draw(st.lists(st.sampled_from(self.sent), min_size=1, max_size=8))
        before = self.books()
        assert self.ledger.apply_all(data.draw(st.permutations(batch))) == [False] * len(batch)
        assert self.books() == before

    @precondition(lambda self: len(self.closed) < len(PERIODS))
    @rule()
    def close_the_earliest_open_period(self):
        period = PERIODS[len(self.closed)]
        issued = self.month_end.close(period, "finance")
        self.closed.append(period)
        self.statements += issued
        with self.db.connect() as c:
            on_it = net(c.execute(select(t.postings.c.debit, t.postings.c.credit).where(
                t.postings.c.period == period, t.postings.c.account.like("receivable:%"))).all())
        assert sum(Decimal(s["totals"]["total"]) for s in issued) == on_it

    def books(self) -> tuple:
        with self.db.connect() as c:
            return c.execute(select(func.count(), func.sum(t.postings.c.debit), func.sum(t.postings.c.credit))
                             .select_from(t.postings)).one()

    @invariant()
    def every_event_posts_equal_debits_and_credits(self):
        with self.db.connect() as c:
            unequal = c.execute(select(t.postings.c.event_id).group_by(t.postings.c.event_id).having(
                func.sum(t.postings.c.debit) != func.sum(t.postings.c.credit))).all()
        assert unequal == []

    @invariant()
    def the_tenants_owe_every_charge_and_every_apportioned_cost(self):
        apportioned = sum((a for a, period, late in self.costs if late or period in self.closed), Decimal(0))
        with self.db.connect() as c:
            owed = net(c.execute(select(t.postings.c.debit, t.postings.c.credit)
                                 .where(t.postings.c.account.like("receivable:%"))).all())
        assert owed == sum(self.amounts.values(), Decimal(0)) + apportioned

    @invariant()
    def a_corrected_charge_nets_to_its_correction(self):
        with self.db.connect() as c:
            for original, correction in self.corrections.items():
                rows = c.execute(select(t.postings.c.debit, t.postings.c.credit).where(
                    t.postings.c.source_id.in_((original, correction)),
                    t.postings.c.account.like("receivable:%"))).all()
                assert net(rows) == self.amounts[correction]

    @invariant()
    def closed_periods_reconcile_to_the_penny(self):
        for period in self.closed:
            assert [r.difference for r in self.month_end.reconcile(period) if r.difference] == []

    @invariant()
    def each_statement_is_the_sum_of_its_lines(self):
        for s in self.statements:
            lines = [Decimal(x["amount"]) for g in s["direct_charges"] for x in g["lines"]]
            lines += [Decimal(x["share"]) for x in s["shared_costs"]]
            lines += [Decimal(x["amount"]) for x in s["prior_period_adjustments"]]
            assert sum(lines, Decimal(0)) == Decimal(s["totals"]["total"])


LedgerHistory.TestCase.settings = settings(max_examples=25, stateful_step_count=20, deadline=None,
                                           suppress_health_check=[HealthCheck.too_slow])
TestLedgerHistory = LedgerHistory.TestCase
