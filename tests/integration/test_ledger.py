"""The ledger against real databases: one contract, run on SQLite and on PostgreSQL."""

import hashlib
import json
import re
import uuid
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from services.finance.ledger import tables as t
from services.finance.ledger.closing import PeriodClosed
from services.finance.ledger.entries import Conflict, Unpostable
from shared.events import EventCodec
from shared.tenants import Registry
from tests.integration.ledger_databases import LedgerFixtures, OnPostgres, OnSQLite

registry = Registry.load()
codec = EventCodec(registry)


def charge(tenant, amount, period="2026-10", service="it", request_type="laptop-provision", **extra):
    data = {"charge_id": str(uuid.uuid4()), "service": service, "request_type": request_type, "quantity": "1",
            "unit_price": amount, "amount": amount, "cost_centre": "CC-1", "period": period,
            "request_id": str(uuid.uuid4()), "description": "work", **extra}
    return codec.build("uk.hps.finance.charge.recorded", f"/hps/{service}", tenant, data)


def shared_cost(amount, basis, period="2026-10", service="it", **extra):
    data = {"cost_id": str(uuid.uuid4()), "service": service, "description": f"{service} {basis} cost",
            "amount": amount, "period": period, "basis": basis, "recorded_by": "finance", **extra}
    return codec.build("uk.hps.finance.shared-cost.recorded", "/hps/finance", "hps", data)


def withdrawal(cost, reason="Recorded in error", rebasis=None):
    """Finance takes `cost` (its event) back; with `rebasis`, records it again on that basis."""
    data = {"cost_id": cost.data["cost_id"], "service": cost.data["service"], "reason": reason,
            "withdrawn_by": "finance", "rebasis": rebasis,
            "replacement_id": str(uuid.uuid4()) if rebasis else None}
    return codec.build("uk.hps.finance.shared-cost.withdrawn", "/hps/finance", "hps", data,
                       subject=cost.data["cost_id"])


def assert_sealed(db, statement: dict) -> None:
    """The seal is the SHA-256 of everything else in the statement, canonical JSON, recomputed here;
    the stored row carries the same hash and the same body."""
    content = {k: v for k, v in statement.items() if k != "content_sha256"}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert statement["content_sha256"] == digest, f"{statement['statement_number']} is not sealed with its content"
    with db.connect() as c:
        row = c.execute(select(t.statements).where(t.statements.c.number == statement["statement_number"])).one()
    assert (row.content_sha256, json.loads(row.body)) == (digest, statement)
    assert (row.tenant, row.period, row.total) == (statement["tenant"]["code"], statement["period"],
                                                   Decimal(statement["totals"]["total"]))


def stored_statements(db, period: str | None = None) -> list:
    """The issued statements' rows, in number order."""
    query = select(t.statements).order_by(t.statements.c.sequence)
    if period:
        query = query.where(t.statements.c.period == period)
    with db.connect() as c:
        return list(c.execute(query).all())


def counts(db) -> dict[str, int]:
    """How many rows each ledger table holds: a refused or re-sent event must not change them."""
    with db.connect() as c:
        return {table.name: c.execute(select(func.count()).select_from(table)).scalar()
                for table in (t.events, t.charges, t.shared_costs, t.postings, t.statements)}


def lines_of(statement: dict, key: str, value: str) -> list[dict]:
    return [line for line in statement["prior_period_adjustments"] if line.get(key) == value]


class LedgerContract(LedgerFixtures):
    def test_an_event_is_applied_once_however_often_it_arrives(self, ledger, db):
        event = charge("council", "850.00")
        assert ledger.apply(event) is True
        assert ledger.apply(event) is False
        with db.connect() as c:
            assert c.execute(select(func.count()).select_from(t.postings)).scalar() == 2

    def test_the_same_id_with_other_content_is_a_conflict_and_posts_nothing(self, ledger, db):
        event = charge("council", "850.00")
        ledger.apply(event)
        tampered = event.model_copy(update={"data": {**event.data, "amount": "999.00", "unit_price": "999.00"}})
        with pytest.raises(Conflict):
            ledger.apply(tampered)
        with db.connect() as c:
            assert c.execute(select(func.sum(t.postings.c.debit))).scalar() == Decimal("850.00")

    def test_one_batch_keeps_what_can_be_posted_and_reports_the_rest(self, ledger, db):
        first = charge("council", "10.00")
        conflicting = first.model_copy(update={"data": {**first.data, "amount": "11.00", "unit_price": "11.00"}})
        police = charge("police", "5.00")  # not a tenant until 2027
        correction = charge("council", "8.00", kind="correction", corrects=first.data["charge_id"])
        second = charge("ccg", "2.50")
        results = ledger.apply_all([first, first, conflicting, police, correction, second, shared_cost("9.00", "staff")])
        assert results[:2] == [True, False]
        assert isinstance(results[2], Conflict) and isinstance(results[3], Unpostable)
        assert results[4:] == [True, True, True]
        with db.connect() as c:
            net = dict(c.execute(select(t.postings.c.tenant, func.sum(t.postings.c.debit - t.postings.c.credit))
                                 .where(t.postings.c.account.like("receivable:%")).group_by(t.postings.c.tenant)).all())
        assert net == {"council": Decimal("8.00"), "ccg": Decimal("2.50")}

    def test_every_event_posts_equal_debits_and_credits(self, ledger, month_end, db):
        for tenant, amount in [("council", "10.01"), ("ccg", "0.03"), ("hospital", "1234.56")]:
            ledger.apply(charge(tenant, amount))
        ledger.apply(shared_cost("1000.00", "staff"))
        month_end.close("2026-10", "finance")
        with db.connect() as c:
            rows = c.execute(select(t.postings.c.event_id, func.sum(t.postings.c.debit), func.sum(t.postings.c.credit))
                             .group_by(t.postings.c.event_id)).all()
        assert rows and all(debits == credits for _, debits, credits in rows)

    def test_statements_add_up_to_every_charge_and_shared_cost_exactly(self, ledger, month_end, db):
        charges = [charge("council", "850.00"), charge("ccg", "45.00", service="hr", request_type="dbs-check"),
                   charge("hospital", "168.33", service="hr", request_type="advice-case")]
        costs = [shared_cost("18500.00", "sites"), shared_cost("6200.01", "staff", service="hr"),
                 shared_cost("42000.00", "fixed", service="finance"), shared_cost("9800.00", "budget"),
                 shared_cost("7500.00", "usage", service="hr")]
        for event in charges + costs:
            ledger.apply(event)
        statements = month_end.close("2026-10", "finance")
        assert [s["tenant"]["code"] for s in statements] == ["ccg", "council", "hospital"]
        expected = sum(Decimal(e.data["amount"]) for e in charges + costs)
        assert sum(Decimal(s["totals"]["total"]) for s in statements) == expected
        for s in statements:
            lines = [Decimal(line["amount"]) for group in s["direct_charges"] for line in group["lines"]]
            lines += [Decimal(line["share"]) for line in s["shared_costs"]]
            assert sum(lines, Decimal(0)) == Decimal(s["totals"]["total"])
            assert_sealed(db, s)
        # Usage: only the tenants that used HR in October share its usage-based cost.
        usage_shares = {s["tenant"]["code"]: [x for x in s["shared_costs"] if x["basis"] == "usage"] for s in statements}
        assert usage_shares["council"] == []
        assert sum(Decimal(x["share"]) for x in usage_shares["ccg"] + usage_shares["hospital"]) == Decimal("7500.00")
        assert all(r.difference == 0 for r in month_end.reconcile("2026-10").services)

    def test_the_pct_hands_its_shares_to_the_ccg_from_april_2013(self, ledger, month_end):
        ledger.apply(shared_cost("1000.00", "staff", period="2013-03"))
        ledger.apply(shared_cost("1000.00", "staff", period="2013-04"))
        ledger.apply(charge("pct", "50.00", period="2013-04"))  # tagged PCT after its end
        march = {s["tenant"]["code"]: s for s in month_end.close("2013-03", "finance")}
        april = {s["tenant"]["code"]: s for s in month_end.close("2013-04", "finance")}
        assert set(march) == {"council", "pct", "hospital"}
        assert set(april) == {"council", "ccg", "hospital"}
        assert march["pct"]["shared_costs"][0]["share"] == "184.21"  # 1400 of 7600 staff
        assert april["ccg"]["direct_charges"][0]["amount"] == "50.00"

    def test_onboarding_the_police_changes_every_share_from_their_start(self, ledger, month_end):
        ledger.apply(shared_cost("10000.00", "fixed", period="2027-03"))
        ledger.apply(shared_cost("10000.00", "fixed", period="2027-04"))
        march = {s["tenant"]["code"]: s["totals"]["total"] for s in month_end.preview("2027-03").statements}
        april = {s["tenant"]["code"]: s["totals"]["total"] for s in month_end.preview("2027-04").statements}
        assert march == {"ccg": "2000.00", "council": "6000.00", "hospital": "2000.00"}
        assert april == {"ccg": "1500.00", "council": "4500.00", "hospital": "1500.00", "police": "2500.00"}

    def test_a_late_charge_lands_on_the_next_open_statement_as_an_adjustment(self, ledger, month_end):
        ledger.apply(charge("council", "100.00", period="2026-09"))
        month_end.close("2026-09", "finance")
        late = charge("council", "40.00", period="2026-09")
        ledger.apply(late)
        october = {s["tenant"]["code"]: s for s in month_end.close("2026-10", "finance")}["council"]
        [adjustment] = october["prior_period_adjustments"]
        assert adjustment["original_period"] == "2026-09" and adjustment["amount"] == "40.00"
        assert adjustment["event_id"] == str(late.id)
        assert october["totals"]["total"] == "40.00"
        assert all(r.difference == 0 for r in month_end.reconcile("2026-09").services)

    def test_a_correction_is_a_reversal_plus_a_new_entry(self, ledger, month_end, db):
        original = charge("hospital", "165.00", service="hr", request_type="advice-case")
        ledger.apply(original)
        correction = charge("hospital", "110.00", service="hr", request_type="advice-case", kind="correction",
                            corrects=original.data["charge_id"])
        ledger.apply(correction)
        [hospital] = month_end.preview("2026-10", "hospital").statements
        # October is still open: the correction is October's own, not a prior-period adjustment.
        assert hospital["prior_period_adjustments"] == []
        kinds = sorted((a["type"], a["amount"]) for a in hospital["corrections"])
        assert kinds == [("charge", "110.00"), ("reversal", "-165.00")]
        assert (hospital["totals"]["direct_charges"], hospital["totals"]["corrections"],
                hospital["totals"]["prior_period_adjustments"]) == ("165.00", "-55.00", "0.00")
        assert hospital["totals"]["total"] == "110.00"
        with db.connect() as c:  # the original entry is still there, untouched
            assert c.execute(select(func.count()).select_from(t.postings)
                             .where(t.postings.c.source_id == original.data["charge_id"])).scalar() == 4
        with pytest.raises(Unpostable, match="corrected already") as refused:
            ledger.apply(charge("hospital", "100.00", kind="correction", corrects=original.data["charge_id"]))
        assert refused.value.code == "already_corrected"
        assert refused.value.detail == {"corrected_by": correction.data["charge_id"]}

    def test_an_issued_statement_cannot_be_reissued_or_altered(self, ledger, month_end, db):
        ledger.apply(charge("council", "850.00"))
        [_, council, _] = month_end.close("2026-10", "finance")
        with pytest.raises(PeriodClosed, match="cannot be reissued"):
            month_end.close("2026-10", "finance")
        for statement in (f"UPDATE ledger_statements SET total = 0 WHERE number = '{council['statement_number']}'",
                          "DELETE FROM ledger_postings", "UPDATE ledger_postings SET debit = 0"):
            with pytest.raises(Exception, match="immutable"):
                with db.begin() as c:
                    c.execute(text(statement))
        assert month_end.preview("2026-10", "council").statements[0]["totals"]["total"] == "850.00"

    def test_reconciliation_finds_what_does_not_add_up(self, ledger, month_end, db):
        ledger.apply(charge("council", "850.00"))
        assert [r.difference for r in month_end.reconcile("2026-10").services] == [0]
        with db.begin() as c:  # a posting with no source behind it
            c.execute(t.postings.insert().values(event_id="rogue", source="charge", source_id="rogue",
                                                 account="receivable:council", tenant="council", service="it",
                                                 debit=Decimal("0.01"), credit=0, period="2026-10",
                                                 original_period="2026-10", posted_at=func.now()))
        [it] = month_end.reconcile("2026-10").services
        assert it.difference == Decimal("0.01")

    def test_statement_numbers_run_on_without_gaps_across_closes(self, ledger, month_end, db):
        # Three month ends; the police join in April, so April issues four statements.
        for period in ("2027-02", "2027-03", "2027-04"):
            ledger.apply(charge("council", "12.00", period=period))
        issued = month_end.close("2027-02", "finance") + month_end.close("2027-03", "finance")
        # Closing March again is refused, and the refusal uses up no number.
        with pytest.raises(PeriodClosed):
            month_end.close("2027-03", "finance")
        issued += month_end.close("2027-04", "finance")
        assert [s["tenant"]["code"] for s in issued[-4:]] == ["ccg", "council", "hospital", "police"]
        numbers = [s["statement_number"] for s in issued]
        for number, s in zip(numbers, issued):
            assert re.fullmatch(rf"HPS-{s['period'].replace('-', '')}-\d{{5}}", number), number
        assert [int(n[-5:]) for n in numbers] == list(range(1, 11))
        # The stored rows hold the same numbers under the same sequence.
        assert [(row.number, row.sequence) for row in stored_statements(db)] == [(n, int(n[-5:])) for n in numbers]

    def test_a_late_shared_cost_is_apportioned_onto_the_next_statement(self, ledger, month_end, db):
        # March 2027 closes with one charge; the police join on 1 April.
        ledger.apply(charge("council", "100.00", period="2027-03"))
        march = month_end.close("2027-03", "finance")
        # A shared cost for March is recorded after the close.
        late = shared_cost("1000.01", "staff", period="2027-03")
        assert ledger.apply(late) is True
        april = {s["tenant"]["code"]: s for s in month_end.close("2027-04", "finance")}
        # Every tenant of March bears a share, on its April statement; the police, not a tenant in March, none.
        shares = {code: lines_of(s, "cost_id", late.data["cost_id"]) for code, s in april.items()}
        march_tenants = {tenant.code for tenant in registry.active(date(2027, 3, 1))}
        assert {code for code, lines in shares.items() if lines} == march_tenants
        assert shares["police"] == []
        lines = [line for tenant_lines in shares.values() for line in tenant_lines]
        assert len(lines) == len(march_tenants)
        assert all((line["type"], line["original_period"], line["basis"]) == ("shared_cost", "2027-03", "staff")
                   for line in lines)
        assert sum(Decimal(line["amount"]) for line in lines) == Decimal("1000.01")
        # March's statements stay as issued, and March still reconciles, the late cost included.
        assert all(s["prior_period_adjustments"] == [] and s["shared_costs"] == [] for s in march)
        for s in march:
            assert_sealed(db, s)
        [it] = month_end.reconcile("2027-03").services
        assert (it.direct_charges, it.shared_costs, it.difference) == (Decimal("100.00"), Decimal("1000.01"), 0)

    def test_a_correction_of_a_closed_period_lands_on_the_next_statement(self, ledger, month_end, db):
        original = charge("hospital", "165.00", period="2026-09", service="hr", request_type="advice-case")
        ledger.apply(original)
        september = {s["tenant"]["code"]: s for s in month_end.close("2026-09", "finance")}["hospital"]
        issued = stored_statements(db, "2026-09")
        # Finance corrects the September charge after the close.
        correction = charge("hospital", "110.00", period="2026-09", service="hr", request_type="advice-case",
                            kind="correction", corrects=original.data["charge_id"])
        assert ledger.apply(correction) is True
        october = {s["tenant"]["code"]: s for s in month_end.close("2026-10", "finance")}["hospital"]
        adjustments = sorted((a["type"], a["charge_id"], a["amount"], a["original_period"])
                             for a in october["prior_period_adjustments"])
        assert adjustments == [("charge", correction.data["charge_id"], "110.00", "2026-09"),
                               ("reversal", original.data["charge_id"], "-165.00", "2026-09")]
        assert october["totals"]["total"] == "-55.00"
        # September's statement is unchanged, stored and as rebuilt from the ledger.
        assert stored_statements(db, "2026-09") == issued
        assert_sealed(db, september)
        [rebuilt] = month_end.preview("2026-09", "hospital").statements
        assert rebuilt == {k: v for k, v in september.items()
                           if k not in ("statement_number", "issued_at", "content_sha256")}
        assert all(r.difference == 0 for r in month_end.reconcile("2026-09").services)

    def test_a_resent_shared_cost_or_correction_changes_nothing(self, ledger, month_end, db):
        original = charge("council", "70.00", period="2026-09")
        ledger.apply(original)
        month_end.close("2026-09", "finance")
        # A late shared cost and a correction, both posted at once (September is closed).
        late = shared_cost("300.00", "sites", period="2026-09")
        correction = charge("council", "60.00", period="2026-09", kind="correction",
                            corrects=original.data["charge_id"])
        assert ledger.apply_all([late, correction]) == [True, True]
        before = counts(db)
        # Both arrive again, alone and twice in one batch.
        assert ledger.apply(late) is False
        assert ledger.apply(correction) is False
        assert ledger.apply_all([late, correction, late, correction]) == [False, False, False, False]
        assert counts(db) == before
        [council] = month_end.preview("2026-10", "council").statements
        assert len(lines_of(council, "cost_id", late.data["cost_id"])) == 1
        assert len(lines_of(council, "type", "reversal")) == 1

    def test_a_reused_shared_cost_event_or_charge_id_is_a_conflict(self, ledger, month_end, db):
        original = charge("council", "70.00", period="2026-09")
        other = charge("council", "20.00", period="2026-09")
        ledger.apply_all([original, other])
        month_end.close("2026-09", "finance")
        late = shared_cost("300.00", "sites", period="2026-09")
        ledger.apply(late)
        before = counts(db)
        # The shared cost's event id again, with another amount.
        tampered = late.model_copy(update={"data": {**late.data, "amount": "301.00"}})
        with pytest.raises(Conflict, match="different content"):
            ledger.apply(tampered)
        # A correction that gives itself the id of a charge recorded under another event.
        clash = charge("council", "65.00", period="2026-09", kind="correction",
                       corrects=original.data["charge_id"], charge_id=other.data["charge_id"])
        with pytest.raises(Conflict, match="recorded under another event"):
            ledger.apply(clash)
        assert counts(db) == before
        # Nothing of the refused correction stayed behind: the charge can still be corrected once.
        fixed = charge("council", "65.00", period="2026-09", kind="correction", corrects=original.data["charge_id"])
        assert ledger.apply(fixed) is True

    def test_a_correction_must_name_a_known_charge(self, ledger, db):
        ledger.apply(charge("council", "70.00"))
        before = counts(db)
        with pytest.raises(Unpostable, match="must name the charge"):
            ledger.apply(charge("council", "60.00", kind="correction"))
        unknown = str(uuid.uuid4())
        with pytest.raises(Unpostable, match=f"unknown charge {unknown}"):
            ledger.apply(charge("council", "60.00", kind="correction", corrects=unknown))
        assert counts(db) == before

    def test_a_new_event_reusing_a_posted_charge_id_is_a_conflict(self, ledger, db):
        first = charge("council", "70.00")
        ledger.apply(first)
        before = counts(db)
        # Another event (its own id) for the same charge: the same work must not be charged twice.
        again = charge("council", "70.00", charge_id=first.data["charge_id"])
        with pytest.raises(Conflict, match="repeats a charge or cost id"):
            ledger.apply(again)
        assert counts(db) == before

    def test_an_event_the_ledger_does_not_post_is_unpostable(self, ledger, db):
        before = counts(db)
        payroll = codec.build("uk.hps.hr.payroll.run-requested", "/hps/gateway", "council",
                              {"period": "2026-10", "requested_by": "finance"})
        with pytest.raises(Unpostable, match="does not post uk.hps.hr.payroll.run-requested"):
            ledger.apply(payroll)
        assert counts(db) == before

    def test_a_late_usage_cost_nobody_incurred_is_refused_and_the_refusal_kept(self, ledger, month_end, db):
        # September closes with IT work only: nobody used HR.
        ledger.apply(charge("council", "850.00", period="2026-09"))
        month_end.close("2026-09", "finance")
        before = counts(db)
        late = shared_cost("500.00", "usage", period="2026-09", service="hr")
        with pytest.raises(Unpostable, match="no tenant used the service in 2026-09") as refused:
            ledger.apply(late)
        assert refused.value.code == "cannot_apportion"
        # Nothing posted and the event not applied, so a corrected cost can still come under a new id;
        # the refusal is recorded, under the event's id, for whoever asked.
        assert counts(db) == before
        with db.connect() as c:
            assert c.execute(select(t.events).where(t.events.c.event_id == str(late.id))).first() is None
            kept = c.execute(select(t.refusals).where(t.refusals.c.event_id == str(late.id))).one()
        assert (kept.code, kept.subject, kept.tenant) == ("cannot_apportion", late.data["cost_id"], "hps")
        assert "no tenant used the service in 2026-09" in kept.reason

class TestLedgerOnSQLite(OnSQLite, LedgerContract):
    pass


class TestLedgerOnPostgres(OnPostgres, LedgerContract):
    pass
