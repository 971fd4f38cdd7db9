"""The month end against real databases, on SQLite and on PostgreSQL: blockers, withdrawals and
re-bases, credits, successors answering for late entries, zero weights, corrections."""

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from services.finance.ledger import render
from services.finance.ledger import tables as t
from services.finance.ledger.book import Ledger
from services.finance.ledger.closing import MonthEnd, PeriodBlocked, PeriodClosed
from services.finance.ledger.entries import Unpostable
from services.finance.ledger.schema import upgrade
from services.finance.ledger.signing import Signer
from shared.tenants import Registry
from tests.integration.ledger_databases import LedgerFixtures, OnPostgres, OnSQLite
from tests.integration.test_ledger import charge, counts, shared_cost, withdrawal

# Two partners; the hospital has no sites and no budget of its own, and the agreement gives it nothing.
ZERO_WEIGHTS = """
unit: {code: hps, name: Shared unit}
tenants:
  - {code: council, name: Council, valid_from: 2007-04-01,
     figures: [{from: 2007-04-01, staff: 3900, sites: 70, budget: 0}]}
  - {code: hospital, name: Hospital, valid_from: 2007-04-01,
     figures: [{from: 2007-04-01, staff: 2300, sites: 0, budget: 0}]}
agreements:
  - {from: 2007-04-01, shares: {council: 100, hospital: 0}}
  - {from: 2030-01-01, shares: {council: 100}}
"""


def by_tenant(statements) -> dict[str, dict]:
    return {s["tenant"]["code"]: s for s in statements}


def lines(statement: dict, section: str, cost_id: str) -> list[dict]:
    return [x for x in statement[section] if x.get("cost_id") == cost_id]


def net_owed(db) -> dict[str, Decimal]:
    with db.connect() as c:
        return {tenant: Decimal(total) for tenant, total in c.execute(
            select(t.postings.c.tenant, func.sum(t.postings.c.debit - t.postings.c.credit))
            .where(t.postings.c.account.like("receivable:%")).group_by(t.postings.c.tenant)).all()}


class MonthEndContract(LedgerFixtures):
    # Blockers.

    def test_a_cost_nobody_used_is_a_blocker_that_stops_only_the_close(self, ledger, month_end, db):
        # October: IT work for the council, and an HR cost to share by usage; nobody used HR.
        ledger.apply(charge("council", "850.00"))
        stuck = shared_cost("500.00", "usage", service="hr")
        assert ledger.apply(stuck) is True  # October is open: usage may still come
        ledger.apply(shared_cost("600.00", "staff"))
        # The preview drafts every statement, the staff cost shared, and names the blocker.
        drafted = month_end.preview("2026-10")
        assert [s["tenant"]["code"] for s in drafted.statements] == ["ccg", "council", "hospital"]
        assert sum(Decimal(s["totals"]["shared_costs"]) for s in drafted.statements) == Decimal("600.00")
        [blocker] = drafted.blockers
        assert blocker.cost["cost_id"] == stuck.data["cost_id"]
        assert "no tenant used the service in 2026-10" in blocker.reason
        assert blocker.bases == ["staff", "sites", "budget", "fixed"]
        # Reconciliation reports it too, unbalanced until it is dealt with.
        report = month_end.reconcile("2026-10")
        assert [b.cost["cost_id"] for b in report.blockers] == [stuck.data["cost_id"]]
        assert not report.balanced
        # The close is refused, naming it, and changes nothing.
        before = counts(db)
        with pytest.raises(PeriodBlocked) as refused:
            month_end.close("2026-10", "finance")
        assert [b.cost["cost_id"] for b in refused.value.blockers] == [stuck.data["cost_id"]]
        assert counts(db) == before
        with db.connect() as c:
            assert c.execute(select(t.periods).where(t.periods.c.period == "2026-10")).first() is None
        # Finance withdraws it; the close goes through without it, and the period reconciles.
        assert ledger.apply(withdrawal(stuck, "Nobody used the HR system in October")) is True
        assert month_end.preview("2026-10").blockers == []
        issued = by_tenant(month_end.close("2026-10", "finance"))
        assert all(lines(s, "shared_costs", stuck.data["cost_id"]) == [] for s in issued.values())
        assert sum(Decimal(s["totals"]["total"]) for s in issued.values()) == Decimal("1450.00")
        report = month_end.reconcile("2026-10")
        assert report.balanced and report.blockers == []

    def test_usage_arriving_before_the_close_clears_the_blocker(self, ledger, month_end):
        stuck = shared_cost("300.00", "usage", service="hr")
        ledger.apply(stuck)
        assert len(month_end.preview("2026-10").blockers) == 1
        ledger.apply(charge("hospital", "45.00", service="hr", request_type="dbs-check"))
        assert month_end.preview("2026-10").blockers == []
        hospital = by_tenant(month_end.close("2026-10", "finance"))["hospital"]
        assert [x["share"] for x in hospital["shared_costs"]] == ["300.00"]

    # Withdrawals and re-bases.

    def test_a_pending_cost_withdrawn_simply_stops_counting(self, ledger, month_end, db):
        cost = shared_cost("900.00", "sites")
        ledger.apply(cost)
        before = counts(db)
        assert ledger.apply(withdrawal(cost)) is True
        # Nothing was posted for it, so nothing is reversed: it is just not apportioned at close.
        assert {k: v for k, v in counts(db).items() if k != "ledger_events"} == \
            {k: v for k, v in before.items() if k != "ledger_events"}
        assert all(s["shared_costs"] == [] for s in month_end.close("2026-10", "finance"))
        assert net_owed(db) == {}
        assert month_end.reconcile("2026-10").services == []

    def test_an_apportioned_cost_withdrawn_has_each_share_reversed_on_the_next_statement(self, ledger, month_end, db):
        cost = shared_cost("1000.01", "staff", period="2026-09")
        ledger.apply(cost)
        september = by_tenant(month_end.close("2026-09", "finance"))
        shares = {code: lines(s, "shared_costs", cost.data["cost_id"])[0]["share"] for code, s in september.items()}
        assert sum(map(Decimal, shares.values())) == Decimal("1000.01")
        assert ledger.apply(withdrawal(cost, "Invoice cancelled by the supplier")) is True
        october = by_tenant(month_end.close("2026-10", "finance"))
        for code, s in october.items():
            [reversal] = lines(s, "prior_period_adjustments", cost.data["cost_id"])
            assert (reversal["type"], reversal["amount"], reversal["original_period"]) == \
                ("withdrawal", str(-Decimal(shares[code])), "2026-09")
            assert "withdrawn" in reversal["note"]
        assert set(net_owed(db).values()) == {Decimal("0.00")}
        # The September statements stand as issued; September still reconciles, the cost gone from both sides.
        [it] = month_end.reconcile("2026-09").services
        assert (it.shared_costs, it.recharged, it.difference) == (0, 0, 0)
        # Withdrawing it again, or a cost never recorded, is refused and changes nothing.
        before = counts(db)
        with pytest.raises(Unpostable, match="withdrawn already") as twice:
            ledger.apply(withdrawal(cost))
        assert twice.value.code == "already_withdrawn"
        with pytest.raises(Unpostable, match="unknown shared cost") as unknown:
            ledger.apply(withdrawal(shared_cost("1.00", "staff")))
        assert unknown.value.code == "not_found"
        # A withdrawal must name the cost's own service (the topic is keyed, and ordered, by it).
        elsewhere = withdrawal(shared_cost("2.00", "staff", period="2026-09"))
        ledger.apply(shared_cost("2.00", "staff", period="2026-09", cost_id=elsewhere.data["cost_id"], service="hr"))
        before = counts(db)
        with pytest.raises(Unpostable, match="is a cost of hr, not it") as misnamed:
            ledger.apply(elsewhere)
        assert misnamed.value.code == "invalid"
        assert counts(db) == before

    def test_a_pending_cost_rebased_is_recorded_again_on_the_new_basis(self, ledger, month_end, db):
        stuck = shared_cost("500.00", "usage", service="hr")
        ledger.apply(stuck)
        rebased = withdrawal(stuck, "Share by head count instead", rebasis="staff")
        assert ledger.apply(rebased) is True
        replacement = rebased.data["replacement_id"]
        with db.connect() as c:
            row = c.execute(select(t.shared_costs).where(t.shared_costs.c.cost_id == replacement)).one()
        assert (row.basis, row.amount, row.period, row.replaces, row.event_id) == \
            ("staff", Decimal("500.00"), "2026-10", stuck.data["cost_id"], str(rebased.id))
        drafted = month_end.preview("2026-10")
        assert drafted.blockers == []
        issued = by_tenant(month_end.close("2026-10", "finance"))
        shares = {code: lines(s, "shared_costs", replacement) for code, s in issued.items()}
        assert sum(Decimal(x[0]["share"]) for x in shares.values()) == Decimal("500.00")
        assert all(x[0]["basis"] == "staff" and stuck.data["cost_id"] in x[0]["note"] for x in shares.values())
        assert all(lines(s, "shared_costs", stuck.data["cost_id"]) == [] for s in issued.values())

    def test_an_apportioned_cost_rebased_is_reversed_and_shared_again_in_one_go(self, ledger, month_end, db):
        cost = shared_cost("1200.00", "sites", period="2026-09")
        ledger.apply(cost)
        month_end.close("2026-09", "finance")
        rebased = withdrawal(cost, "The network is shared by head count", rebasis="staff")
        assert ledger.apply(rebased) is True
        october = by_tenant(month_end.close("2026-10", "finance"))
        for s in october.values():
            [reversal] = lines(s, "prior_period_adjustments", cost.data["cost_id"])
            [again] = lines(s, "prior_period_adjustments", rebased.data["replacement_id"])
            assert (reversal["basis"], again["basis"]) == ("sites", "staff")
        assert sum(Decimal(s["totals"]["total"]) for s in october.values()) == Decimal("0.00")
        assert sum(net_owed(db).values()) == Decimal("1200.00")
        # Both postings came with the one withdrawal event, and balance.
        with db.connect() as c:
            debit, credit = c.execute(select(func.sum(t.postings.c.debit), func.sum(t.postings.c.credit))
                                      .where(t.postings.c.event_id == str(rebased.id))).one()
        assert debit == credit
        assert all(r.difference == 0 for r in month_end.reconcile("2026-09").services)

    def test_a_rebasis_its_new_basis_cannot_apportion_is_refused_whole(self, ledger, month_end, db):
        cost = shared_cost("1200.00", "sites", period="2026-09", service="procurement")
        ledger.apply(cost)
        month_end.close("2026-09", "finance")
        before = counts(db)
        with pytest.raises(Unpostable, match="no tenant used the service in 2026-09") as refused:
            ledger.apply(withdrawal(cost, "By usage", rebasis="usage"))
        assert refused.value.code == "cannot_apportion"
        assert counts(db) == before
        with db.connect() as c:
            assert c.execute(select(func.count()).select_from(t.withdrawals)).scalar() == 0
        assert ledger.apply(withdrawal(cost, "Taken back")) is True  # a plain withdrawal still can be

    # Credits.

    def test_a_credit_is_apportioned_like_a_cost_and_shown_as_a_credit(self, ledger, month_end, db):
        ledger.apply(charge("council", "850.00"))
        refund = shared_cost("-1000.00", "fixed", reason="Licence refund from the supplier")
        assert ledger.apply(refund) is True
        issued = by_tenant(month_end.close("2026-10", "finance"))
        credits = {code: lines(s, "shared_costs", refund.data["cost_id"])[0] for code, s in issued.items()}
        assert {code: x["share"] for code, x in credits.items()} == \
            {"ccg": "-200.00", "council": "-600.00", "hospital": "-200.00"}
        assert all(x["credit"] and x["reason"] == "Licence refund from the supplier" for x in credits.values())
        assert all("credit: Licence refund" in x["note"] for x in credits.values())
        assert issued["council"]["totals"]["total"] == "250.00"
        assert sum(net_owed(db).values()) == Decimal("-150.00")
        csv_rows = render.to_csv(issued["council"])
        assert "shared credit" in csv_rows and "Licence refund from the supplier" in csv_rows
        assert render.to_pdf(issued["council"]).startswith(b"%PDF")
        assert all(r.difference == 0 for r in month_end.reconcile("2026-10").services)

    def test_a_credit_without_a_reason_is_no_event(self):
        with pytest.raises(ValueError, match="needs a reason"):
            shared_cost("-10.00", "staff")

    # Successors answer for late entries.

    def test_late_pct_entries_after_the_succession_are_billed_to_the_ccg(self, ledger, month_end, db):
        original = charge("pct", "300.00", period="2013-03", service="hr", request_type="advice-case")
        ledger.apply(original)
        march = by_tenant(month_end.close("2013-03", "finance"))
        assert "pct" in march
        # After the PCT's end: a late charge of its March, a late March cost, and a correction.
        late = charge("pct", "45.00", period="2013-03", service="hr", request_type="dbs-check")
        cost = shared_cost("1000.00", "staff", period="2013-03")
        correction = charge("pct", "200.00", period="2013-03", service="hr", request_type="advice-case",
                            kind="correction", corrects=original.data["charge_id"])
        assert ledger.apply_all([late, cost, correction]) == [True, True, True]
        april = by_tenant(month_end.close("2013-04", "finance"))
        # The PCT ended on 31 March: no statement for it; the CCG answers for all of it.
        assert set(april) == {"council", "ccg", "hospital"}
        ccg = april["ccg"]
        for_pct = [x for x in ccg["prior_period_adjustments"] if x["on_behalf_of"] == "pct"]
        assert sorted((x["type"], x["amount"]) for x in for_pct) == \
            [("charge", "200.00"), ("charge", "45.00"), ("reversal", "-300.00"), ("shared_cost", "184.21")]
        assert all("billed to its successor" in x["note"] and x["original_period"] == "2013-03" for x in for_pct)
        assert ccg["totals"]["total"] == "129.21"
        with db.connect() as c:
            assert c.execute(select(t.postings).where(t.postings.c.tenant == "pct",
                                                      t.postings.c.period == "2013-04")).first() is None
        # March still reconciles, its late entries included.
        assert all(r.difference == 0 for r in month_end.reconcile("2013-03").services)

    # Zero weights.

    def test_a_tenant_with_no_weight_gets_no_share_line(self, db, tmp_path):
        (tmp_path / "tenants.yaml").write_text(ZERO_WEIGHTS)
        zero = Registry.load(tmp_path / "tenants.yaml")
        upgrade(db)
        ledger, month_end = Ledger(db, zero), MonthEnd(db, zero, Signer.generated())
        sites, fixed = shared_cost("700.00", "sites"), shared_cost("50.00", "fixed")
        assert ledger.apply_all([sites, fixed]) == [True, True]
        # Every active tenant has nothing on the budget basis: refused, naming the basis and why.
        with pytest.raises(Unpostable, match="zero weight on budget") as refused:
            ledger.apply(shared_cost("10.00", "budget"))
        assert refused.value.code == "cannot_apportion"
        # An agreement that does not cover the tenants of the month cannot split a fixed cost.
        with pytest.raises(Unpostable, match="does not cover exactly the active tenants"):
            ledger.apply(shared_cost("10.00", "fixed", period="2030-02"))
        issued = by_tenant(month_end.close("2026-10", "finance"))
        assert sorted((x["basis"], x["share"]) for x in issued["council"]["shared_costs"]) == \
            [("fixed", "50.00"), ("sites", "700.00")]
        assert issued["hospital"]["shared_costs"] == []
        with db.connect() as c:
            assert c.execute(select(t.postings).where(t.postings.c.tenant == "hospital")).first() is None

    # Corrections.

    def test_an_amount_set_by_hand_says_so_on_the_line(self, ledger, month_end):
        original = charge("council", "165.00", service="hr", request_type="advice-case", quantity="3",
                          unit_price="55.00")
        ledger.apply(original)
        ledger.apply(charge("council", "100.00", service="hr", request_type="advice-case", quantity="3",
                            unit_price="55.00", kind="correction", corrects=original.data["charge_id"],
                            amount_set_by_hand=True))
        [council] = month_end.preview("2026-10", "council").statements
        by_type = {x["type"]: x for x in council["corrections"]}
        assert by_type["charge"]["amount_set_by_hand"] is True
        assert (by_type["charge"]["unit_price"], by_type["charge"]["amount"]) == ("55.00", "100.00")
        assert "amount set by hand" in by_type["charge"]["note"]
        assert "amount set by hand" not in by_type["reversal"]["note"]
        assert council["totals"]["corrections"] == "-65.00"
        assert "amount set by hand" in render.to_csv({**council, "statement_number": "draft"})

    def test_only_entries_of_earlier_periods_are_prior_period_adjustments(self, ledger, month_end):
        september = charge("council", "90.00", period="2026-09")
        october = charge("council", "80.00")
        ledger.apply_all([september, october])
        month_end.close("2026-09", "finance")
        ledger.apply_all([charge("council", "70.00", period="2026-10", kind="correction",
                                 corrects=october.data["charge_id"]),
                          charge("council", "60.00", period="2026-09", kind="correction",
                                 corrects=september.data["charge_id"])])
        [council] = month_end.preview("2026-10", "council").statements
        assert sorted((x["type"], x["amount"], x["original_period"]) for x in council["corrections"]) == \
            [("charge", "70.00", "2026-10"), ("reversal", "-80.00", "2026-10")]
        assert sorted((x["type"], x["amount"], x["original_period"]) for x in council["prior_period_adjustments"]) == \
            [("charge", "60.00", "2026-09"), ("reversal", "-90.00", "2026-09")]
        assert council["totals"] == {"direct_charges": "80.00", "shared_costs": "0.00", "corrections": "-10.00",
                                     "prior_period_adjustments": "-30.00", "credit_notes": "0.00", "total": "40.00"}


    # A month with nobody to bill.

    def test_a_month_before_any_tenant_closes_with_no_statement(self, month_end, db):
        assert month_end.close("2007-03", "finance") == []
        with db.connect() as c:
            assert c.execute(select(t.periods.c.status).where(t.periods.c.period == "2007-03")).scalar() == "closed"
            assert c.execute(select(func.count()).select_from(t.statements)).scalar() == 0
        with pytest.raises(PeriodClosed):
            month_end.close("2007-03", "finance")


class TestMonthEndOnSQLite(OnSQLite, MonthEndContract):
    pass


class TestMonthEndOnPostgres(OnPostgres, MonthEndContract):
    pass
