"""Statements of a busy month, on SQLite and on PostgreSQL: thousands of lines close into statements
whose totals are each tenant's postings to the penny, sealed, as the drafts say they are, and served
as sealed (JSON) or a line at a time (CSV, PDF)."""

import csv
import io
import json
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.finance.ledger import month_end_api, render
from services.finance.ledger import tables as t
from services.finance.ledger.statement_text import Issued, lines_of
from services.finance.ledger.statements import SECTIONS
from shared.api import errors
from shared.api.auth import load_tokens
from shared.api.identity import Identities
from tests.integration.ledger_databases import LedgerFixtures, OnPostgres, OnSQLite
from tests.integration.test_ledger import assert_sealed, charge, shared_cost, withdrawal

PERIOD = "2026-10"
TENANTS = ("council", "ccg", "hospital")
WORK = (("it", "laptop-provision"), ("it", "account-setup"), ("hr", "dbs-check"), ("hr", "advice-case"),
        ("procurement", "tender"))
# What JSON escapes, and what it writes as \u escapes: both must reach the sealed text exactly.
DESCRIPTIONS = ("Laptop", "Café refit — £1,200 «phase 2»", 'Quote "A" and a back\\slash', "Tab\tand\nnewline",
                "Emoji 😀 too", "")
QUANTITIES = ("1", "2.50", "100", "0.25")


def busy_month(count: int) -> list:
    """`count` charges of October, spread over the tenants, services and request types."""
    events = []
    for i in range(count):
        service, request_type = WORK[i % len(WORK)]
        quantity, unit_price = QUANTITIES[i % len(QUANTITIES)], f"{i % 97 + 1}.{i % 100:02d}"
        amount = str((Decimal(quantity) * Decimal(unit_price)).quantize(Decimal("0.01"), ROUND_HALF_UP))
        extra = {"request_id": None} if i % 7 == 0 else {}
        events.append(charge(TENANTS[i % 3], amount, service=service, request_type=request_type, quantity=quantity,
                             unit_price=unit_price, description=f"{DESCRIPTIONS[i % len(DESCRIPTIONS)]} {i}",
                             kind="recurring" if i % 10 == 0 else "request", **extra))
    return events


def owed_on(db, period: str) -> dict[str, Decimal]:
    """Each tenant's receivable postings on `period`'s statement, summed here row by row."""
    p = t.postings.c
    owed = defaultdict(Decimal)
    with db.connect() as c:
        for tenant, debit, credit in c.execute(select(p.tenant, p.debit, p.credit).where(
                p.period == period, p.account.like("receivable:%"))):
            owed[tenant] += Decimal(debit) - Decimal(credit)
    return dict(owed)


def lines_count(db, period: str, tenant: str) -> int:
    p = t.postings.c
    with db.connect() as c:
        return len(c.execute(select(p.id).where(p.period == period, p.tenant == tenant,
                                                p.account.like("receivable:%"))).all())


def adds_up(statement) -> None:
    """Each group is the sum of its lines, each section the sum of its lines, the total theirs."""
    for group in statement["direct_charges"]:
        assert group["count"] == len(group["lines"])
        assert Decimal(group["amount"]) == sum(Decimal(x["amount"]) for x in group["lines"])
    amounts = {"direct_charges": [Decimal(x["amount"]) for g in statement["direct_charges"] for x in g["lines"]],
               "shared_costs": [Decimal(x["share"]) for x in statement["shared_costs"]],
               **{name: [Decimal(x["amount"]) for x in statement[name]]
                  for name in ("corrections", "prior_period_adjustments", "credit_notes")}}
    for name in SECTIONS:
        assert Decimal(statement["totals"][name]) == sum(amounts[name], Decimal(0)), name
    assert Decimal(statement["totals"]["total"]) == sum(map(Decimal, (statement["totals"][n] for n in SECTIONS)))


def served(db, month_end) -> TestClient:
    app = FastAPI()
    errors.install(app)
    app.include_router(month_end_api.router, prefix="/v1/finance")
    app.state.db, app.state.month_end = db, month_end
    app.state.identities = Identities(load_tokens(None), [], frozenset())
    return TestClient(app)


class StatementsAtScale(LedgerFixtures):
    def test_a_busy_month_closes_to_each_tenants_postings_to_the_penny(self, ledger, month_end, db):
        # September: a charge and a shared cost, closed.
        september, september_cost = charge("council", "90.00", period="2026-09"), shared_cost("300.00", "sites",
                                                                                               period="2026-09")
        ledger.apply_all([september, september_cost])
        month_end.close("2026-09", "finance")
        # October: three thousand charges; one corrected in October, the September one corrected late,
        # a late September charge, September's cost withdrawn, and October's shared costs and a credit.
        october = busy_month(3000)
        for start in range(0, len(october), 500):
            assert ledger.apply_all(october[start:start + 500]) == [True] * len(october[start:start + 500])
        first = october[1]
        late = [charge("hospital", "45.00", period="2026-09"),
                charge(first.tenant, "1.00", kind="correction", corrects=first.data["charge_id"],
                       service=first.data["service"], request_type=first.data["request_type"]),
                charge("council", "70.00", period="2026-09", kind="correction",
                       corrects=september.data["charge_id"]),
                withdrawal(september_cost, "Invoice cancelled"),
                shared_cost("18500.00", "staff"), shared_cost("-1200.00", "fixed", reason="Licence refund"),
                shared_cost("750.00", "usage", service="hr")]
        assert ledger.apply_all(late) == [True] * len(late)

        issued = {s["tenant"]["code"]: s for s in month_end.close(PERIOD, "finance")}

        # Between them, the statements bill exactly what was recorded, worked out here from the events.
        recorded = (sum(Decimal(e.data["amount"]) for e in october) + Decimal("45.00")
                    + Decimal("1.00") - Decimal(first.data["amount"]) + Decimal("70.00") - Decimal("90.00")
                    - Decimal("300.00") + Decimal("18500.00") - Decimal("1200.00") + Decimal("750.00"))
        assert sum(Decimal(s["totals"]["total"]) for s in issued.values()) == recorded
        # Each tenant's statement is its postings, summed here row by row; its direct charges are the
        # October charges sent for it.
        assert {code: Decimal(s["totals"]["total"]) for code, s in issued.items()} == owed_on(db, PERIOD)
        for code, s in issued.items():
            assert Decimal(s["totals"]["direct_charges"]) == \
                sum(Decimal(e.data["amount"]) for e in october if e.tenant == code)
            assert sum(len(list(lines_of(s, name))) for name in SECTIONS) == lines_count(db, PERIOD, code)
            adds_up(s)
            assert_sealed(db, s)
        assert len(issued[first.tenant]["corrections"]) == 2  # the reversal, and the charge that replaces it
        assert len(issued["council"]["prior_period_adjustments"]) == 3  # both for September's charge, one withdrawal
        # Written straight to its sealed text, each statement says what the draft of the period says.
        for draft in month_end.preview(PERIOD).statements:
            s = issued[draft["tenant"]["code"]]
            assert draft == {k: v for k, v in s.items() if k not in ("statement_number", "issued_at", "content_sha256")}

    def test_lines_for_a_predecessor_are_written_as_the_draft_writes_them(self, ledger, month_end):
        # April 2013: the PCT has ended; its late charges, with text JSON escapes, are on the CCG's statement.
        late = [charge("pct", "12.50", period="2013-04", description=text, quantity="2.50", unit_price="5.00")
                for text in DESCRIPTIONS]
        ledger.apply_all([*late, charge("ccg", "3.00", period="2013-04")])
        [ccg] = [s for s in month_end.close("2013-04", "finance") if s["tenant"]["code"] == "ccg"]
        on_behalf = [x for x in lines_of(ccg, "direct_charges") if x["on_behalf_of"] == "pct"]
        assert len(on_behalf) == len(DESCRIPTIONS) and all("billed to its successor" in x["note"] for x in on_behalf)
        assert {x["quantity"] for x in on_behalf} == {"2.5"}
        [draft] = month_end.preview("2013-04", "ccg").statements
        assert draft == {k: v for k, v in ccg.items() if k not in ("statement_number", "issued_at", "content_sha256")}

    def test_an_issued_statement_is_served_as_sealed_and_line_by_line(self, ledger, month_end, db):
        ledger.apply_all(busy_month(600) + [shared_cost("-90.00", "fixed", reason="Refund")])
        closed = {s["tenant"]["code"]: s for s in month_end.close(PERIOD, "finance")}
        numbers = {code: s["statement_number"] for code, s in closed.items()}
        api = served(db, month_end)
        finance = {"Authorization": "Bearer dev-finance"}
        with db.connect() as c:
            stored = c.execute(select(t.statements.c.body).where(t.statements.c.number == numbers["council"])).scalar()
        # JSON: the stored text itself, whose seal covers everything in it.
        as_json = api.get(f"/v1/finance/statements/{numbers['council']}", headers=finance)
        assert as_json.status_code == 200 and as_json.headers["content-type"] == "application/json"
        assert as_json.text == stored
        council = as_json.json()
        # Read back a line at a time, it is the same statement.
        issued = Issued(stored)
        assert dict(issued) == council
        assert [list(lines_of(issued, name)) for name in SECTIONS] == \
            [list(lines_of(council, name)) for name in SECTIONS]
        # CSV: a row per line, adding up to the total.
        as_csv = api.get(f"/v1/finance/statements/{numbers['council']}", params={"format": "csv"}, headers=finance)
        rows = list(csv.DictReader(io.StringIO(as_csv.text)))
        lines = [r for r in rows if r["section"] != "total"]
        assert len(lines) == sum(len(list(lines_of(council, name))) for name in SECTIONS) == 200 + 1
        assert sum(Decimal(r["amount"]) for r in lines) == Decimal(council["totals"]["total"])
        assert {r["description"] for r in lines} >= \
            {f"{DESCRIPTIONS[i % len(DESCRIPTIONS)]} {i}" for i in range(0, 600, 3)}
        # PDF: every line, laid out table by table.
        as_pdf = api.get(f"/v1/finance/statements/{numbers['council']}", params={"format": "pdf"}, headers=finance)
        assert as_pdf.status_code == 200 and as_pdf.content.startswith(b"%PDF")
        # A partner reads its own statement, and the list of statements, and nothing of another's.
        partner = {"Authorization": "Bearer dev-ccg"}
        assert api.get(f"/v1/finance/statements/{numbers['council']}", headers=partner).status_code == 404
        own = api.get(f"/v1/finance/statements/{numbers['ccg']}", params={"format": "csv"}, headers=partner)
        assert own.status_code == 200 and {r["tenant"] for r in csv.DictReader(io.StringIO(own.text))} == {"ccg"}
        # The list reads no statement's lines: what it shows is what each statement says.
        listed = api.get("/v1/finance/statements", params={"period": PERIOD}, headers=finance).json()
        shown = ("number", "tenant", "period", "total", "content_sha256")
        assert [{k: s[k] for k in shown} for s in listed] == [
            {"number": s["statement_number"], "tenant": code, "period": PERIOD, "total": s["totals"]["total"],
             "content_sha256": s["content_sha256"]}
            for code, s in sorted(closed.items(), key=lambda item: item[1]["statement_number"])]
        assert all(s["signature"] and s["key_id"] == month_end.signer.kid for s in listed)
        assert [s["tenant"] for s in api.get("/v1/finance/statements", headers=partner).json()] == ["ccg"]


def test_a_statement_issued_before_corrections_had_a_section_reads_as_issued():
    line = {"amount": "10.00", "charge_id": "c1", "description": 'a "quoted" line', "request_type": "incident",
            "service": "it"}
    issued = {"content_sha256": "0" * 64, "direct_charges": [
                  {"amount": "10.00", "count": 1, "lines": [line], "request_type": "incident", "service": "it"}],
              "issued_at": "2026-10-01T00:00:00+00:00", "period": "2026-09", "prior_period_adjustments": [],
              "shared_costs": [], "statement_number": "HPS-202609-00001", "tenant": {"code": "ccg", "name": "CCG"},
              "totals": {"direct_charges": "10.00", "prior_period_adjustments": "0.00", "shared_costs": "0.00",
                         "total": "10.00"}}
    read = Issued(json.dumps(issued, sort_keys=True, separators=(",", ":")))
    assert dict(read) == issued and "corrections" not in read
    assert list(lines_of(read, "direct_charges")) == [line] and list(lines_of(read, "corrections")) == []
    assert [r["section"] for r in csv.DictReader(io.StringIO(render.to_csv(read)))] == ["direct charge"] + ["total"] * 4


class TestStatementsAtScaleOnSQLite(OnSQLite, StatementsAtScale):
    pass


class TestStatementsAtScaleOnPostgres(OnPostgres, StatementsAtScale):
    pass
