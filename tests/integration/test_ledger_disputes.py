"""Disputes and credit notes in the ledger, on SQLite and PostgreSQL: a disputed charge credited on
the partner's next statement, a disputed share of a shared cost apportioned back to the others, a
rejection that changes nothing, and the refusals that keep a line from being credited twice."""

import uuid
from decimal import Decimal

import pytest

from services.finance.ledger.entries import Unpostable
from services.finance.ledger.statement_text import Issued
from tests.integration.ledger_databases import LedgerFixtures, OnPostgres, OnSQLite
from tests.integration.test_ledger import charge, codec, counts, shared_cost, withdrawal
from tests.integration.test_ledger_month_end import by_tenant, net_owed


def raised(tenant: str, number: str, line_id: str, reason: str = "Only one laptop arrived"):
    data = {"dispute_id": str(uuid.uuid4()), "statement_number": number, "line_id": line_id, "reason": reason,
            "raised_by": f"{tenant} finance officer"}
    return codec.build("uk.hps.finance.dispute.raised", "/hps/finance", tenant, data, subject=data["dispute_id"])


def accepted(dispute, credit: str, reason: str = "Agreed: credited"):
    data = {"dispute_id": dispute.data["dispute_id"], "credit": credit, "reason": reason, "answered_by": "finance"}
    return codec.build("uk.hps.finance.dispute.accepted", "/hps/finance", dispute.tenant, data,
                       subject=data["dispute_id"])


def rejected(dispute, reason: str = "Both laptops were signed for"):
    data = {"dispute_id": dispute.data["dispute_id"], "reason": reason, "answered_by": "finance"}
    return codec.build("uk.hps.finance.dispute.rejected", "/hps/finance", dispute.tenant, data,
                       subject=data["dispute_id"])


def refused(ledger, event) -> Unpostable:
    with pytest.raises(Unpostable) as exc:
        ledger.apply(event)
    return exc.value


def issued(month_end, period: str) -> dict[str, dict]:
    return by_tenant(dict(Issued(statement.text)) for statement in month_end.close(period, "finance"))


class DisputesContract(LedgerFixtures):
    def test_an_accepted_dispute_of_a_charge_is_a_credit_note_on_the_next_statement(self, ledger, month_end, db):
        laptops = charge("council", "1700.00")
        ledger.apply(laptops)
        october = issued(month_end, "2026-10")["council"]
        dispute = raised("council", october["statement_number"], laptops.data["charge_id"])
        assert ledger.apply(dispute) is True
        # Raised twice while open, or against another tenant's statement: refused, nothing changes.
        before = counts(db)
        assert refused(ledger, raised("council", october["statement_number"],
                                      laptops.data["charge_id"])).code == "already_disputed"
        assert refused(ledger, raised("ccg", october["statement_number"], laptops.data["charge_id"])).code == \
            "not_found"
        assert refused(ledger, accepted(dispute, "1700.01")).code == "invalid"  # more than the line
        assert counts(db) == before
        assert ledger.apply(accepted(dispute, "850.00")) is True
        assert refused(ledger, rejected(dispute)).code == "already_answered"
        # The issued statement is as it was; November carries the credit note, naming the line.
        november = month_end.preview("2026-11", "council").statements[0]
        [note] = november["credit_notes"]
        assert (note["type"], note["amount"], note["disputed_statement"], note["disputed_line"],
                note["original_period"]) == ("credit_note", "-850.00", october["statement_number"],
                                             laptops.data["charge_id"], "2026-10")
        assert november["totals"]["credit_notes"] == "-850.00" and november["totals"]["total"] == "-850.00"
        # The charge cannot now be corrected (it would be credited twice), and October reconciles:
        # recorded less the credit note is what was recharged.
        fix = charge("council", "800.00", kind="correction", corrects=laptops.data["charge_id"])
        assert refused(ledger, fix).code == "already_credited"
        report = month_end.reconcile("2026-10")
        [it] = report.services
        assert (it.direct_charges, it.credit_notes, it.recharged, it.difference) == \
            (Decimal("1700.00"), Decimal("-850.00"), Decimal("850.00"), Decimal("0.00"))
        assert report.balanced
        closed = issued(month_end, "2026-11")["council"]
        assert closed["credit_notes"] == november["credit_notes"]
        assert closed["totals"]["total"] == "-850.00"

    def test_a_disputed_share_of_a_shared_cost_is_borne_by_the_others(self, ledger, month_end, db):
        network = shared_cost("9000.00", "sites")
        ledger.apply(network)
        october = issued(month_end, "2026-10")
        shares = {code: Decimal(s["shared_costs"][0]["share"]) for code, s in october.items()}
        dispute = raised("hospital", october["hospital"]["statement_number"], network.data["cost_id"],
                         "Our sites were on their own network all month")
        ledger.apply(dispute)
        owed = net_owed(db)
        ledger.apply(accepted(dispute, str(shares["hospital"])))
        november = {s["tenant"]["code"]: s for s in month_end.preview("2026-11").statements}
        [credit] = november["hospital"]["credit_notes"]
        assert Decimal(credit["amount"]) == -shares["hospital"]
        back = {code: Decimal(s["credit_notes"][0]["amount"]) for code, s in november.items() if code != "hospital"}
        assert sum(back.values()) == shares["hospital"]  # to the penny: the cost is still recovered in full
        others = shares["ccg"] + shares["council"]
        for code, amount in back.items():  # each in proportion to its own share, within a penny
            assert abs(amount - shares["hospital"] * shares[code] / others) < Decimal("0.01")
        assert net_owed(db)["hospital"] == owed["hospital"] - shares["hospital"]
        assert sum(net_owed(db).values()) == sum(owed.values())
        assert month_end.reconcile("2026-10").balanced
        # Withdrawing the cost now reverses the shares and the credits alike: nobody owes anything for it.
        ledger.apply(withdrawal(network, "The network contract was cancelled"))
        assert set(net_owed(db).values()) == {Decimal("0.00")}
        assert month_end.reconcile("2026-10").balanced

    def test_a_rejected_dispute_changes_no_amount_and_the_line_can_be_disputed_again(self, ledger, month_end, db):
        work = charge("ccg", "120.00")
        ledger.apply(work)
        number = issued(month_end, "2026-10")["ccg"]["statement_number"]
        first = raised("ccg", number, work.data["charge_id"])
        ledger.apply(first)
        owed = net_owed(db)
        ledger.apply(rejected(first))
        assert net_owed(db) == owed
        assert month_end.preview("2026-11", "ccg").statements[0]["credit_notes"] == []
        again = raised("ccg", number, work.data["charge_id"], "Here is the signed delivery note")
        assert ledger.apply(again) is True
        assert refused(ledger, raised("ccg", number, str(uuid.uuid4()))).code == "not_found"  # no such line
        # A credit note is not itself disputable.
        ledger.apply(accepted(again, "120.00"))
        november = issued(month_end, "2026-11")["ccg"]
        [note] = november["credit_notes"]
        assert refused(ledger, raised("ccg", november["statement_number"], note["dispute_id"])).code == "not_found"

    def test_each_partner_disputes_its_own_share_and_nobody_bears_a_credit_twice(self, ledger, month_end, db):
        network = shared_cost("9000.00", "sites")
        ledger.apply(network)
        october = issued(month_end, "2026-10")
        shares = {code: Decimal(s["shared_costs"][0]["share"]) for code, s in october.items()}
        hospital = raised("hospital", october["hospital"]["statement_number"], network.data["cost_id"])
        ledger.apply(hospital)
        ledger.apply(accepted(hospital, str(shares["hospital"])))
        # The council's share is its own line: its dispute is not the hospital's, and says nothing of it.
        council = raised("council", october["council"]["statement_number"], network.data["cost_id"])
        assert ledger.apply(council) is True
        ledger.apply(accepted(council, str(shares["council"])))
        # The hospital, credited in full, bears none of the council's credit: the CCG bears all of it.
        # The council keeps its part of the hospital's credit (a line of its own, not the one disputed).
        owed = net_owed(db)
        lines = month_end.preview("2026-11", "council").statements[0]["credit_notes"]
        [back] = [x for x in lines if x["type"] == "reapportioned"]
        assert owed["hospital"] == Decimal("0.00") and owed["council"] == Decimal(back["amount"])
        assert owed["ccg"] == Decimal("9000.00") - owed["council"]
        assert month_end.reconcile("2026-10").balanced

    def test_a_credit_nobody_else_bears_on_a_late_cost_reconciles_before_and_after_a_withdrawal(
            self, ledger, month_end, db):
        ledger.apply(charge("council", "100.00", service="hr", request_type="advice-case"))
        issued(month_end, "2026-10")
        late = shared_cost("500.00", "usage", service="hr")  # October is closed: on November's statement
        ledger.apply(late)
        november = issued(month_end, "2026-11")["council"]
        dispute = raised("council", november["statement_number"], late.data["cost_id"])
        ledger.apply(dispute)
        ledger.apply(accepted(dispute, "500.00"))  # only the council used HR: nobody else bears it
        assert month_end.reconcile("2026-10").balanced and month_end.reconcile("2026-11").balanced
        ledger.apply(withdrawal(late, "Charged to the wrong service"))
        assert month_end.reconcile("2026-10").balanced and month_end.reconcile("2026-11").balanced
        assert net_owed(db)["council"] == Decimal("100.00")

    def test_a_successor_disputing_its_predecessors_share_is_credited_in_full_and_the_cost_can_go(
            self, ledger, month_end, db):
        ledger.apply(charge("pct", "300.00", period="2013-03", service="hr", request_type="advice-case"))
        issued(month_end, "2013-03")
        cost = shared_cost("1000.00", "staff", period="2013-03")  # late: on April's statements
        ledger.apply(cost)
        april = issued(month_end, "2013-04")
        [share] = [x for x in april["ccg"]["prior_period_adjustments"] if x.get("cost_id") == cost.data["cost_id"]]
        assert share["on_behalf_of"] == "pct"
        before = net_owed(db)
        dispute = raised("ccg", april["ccg"]["statement_number"], cost.data["cost_id"])
        ledger.apply(dispute)
        ledger.apply(accepted(dispute, share["amount"]))
        owed = net_owed(db)
        assert owed["ccg"] == before["ccg"] - Decimal(share["amount"])  # none of it billed back to the CCG
        assert sum(owed.values()) == sum(before.values())
        assert month_end.reconcile("2013-03").balanced
        assert ledger.apply(withdrawal(cost, "Not a PCT cost after all")) is True
        after = net_owed(db)  # nobody owes anything for the cost: the PCT its own March charge only
        assert after["ccg"] == Decimal("0.00") and after["pct"] == Decimal("300.00")


class TestDisputesOnSQLite(DisputesContract, OnSQLite):
    pass


class TestDisputesOnPostgres(DisputesContract, OnPostgres):
    pass
