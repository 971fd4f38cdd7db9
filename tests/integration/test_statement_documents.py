"""A statement as a finance officer takes it to a budget meeting, served by the finance API: the PDF
(read back with pdftotext) holds the summary against last month, a subtotal per service, each shared
cost's basis and the tenant's driver, the credit notes in their own section, page numbers and the
signature; the CSV has the cost centre and a column for every field of the JSON lines."""

import csv
import io
import subprocess
from decimal import Decimal

from services.finance.ledger import render
from services.finance.ledger.statements import SECTIONS
from tests.integration.ledger_databases import LedgerFixtures, OnPostgres
from tests.integration.test_ledger import charge, shared_cost
from tests.integration.test_ledger_disputes import accepted, issued, raised
from tests.integration.test_ledger_statements_scale import served


def pdf_text(pdf: bytes) -> str:
    return subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()


class DocumentsContract(LedgerFixtures):
    def test_the_pdf_and_csv_hold_what_a_budget_meeting_reads(self, ledger, month_end, db):
        september = charge("council", "400.00", period="2026-09")
        ledger.apply(september)
        before = issued(month_end, "2026-09")["council"]
        for event in (charge("council", "1700.00", cost_centre="ASC-100"),
                      charge("council", "310.50", service="hr", request_type="payroll-run", cost_centre="HR-7"),
                      shared_cost("9000.00", "sites")):
            ledger.apply(event)
        dispute = raised("council", before["statement_number"], september.data["charge_id"])
        ledger.apply(dispute)
        ledger.apply(accepted(dispute, "100.00"))
        october = issued(month_end, "2026-10")["council"]
        number, totals = october["statement_number"], october["totals"]
        [share] = october["shared_costs"]

        api = served(db, month_end)
        pdf = api.get(f"/v1/finance/statements/{number}", params={"format": "pdf"},
                      headers={"Authorization": "Bearer dev-council"})
        assert pdf.status_code == 200, pdf.text
        text = pdf_text(pdf.content)
        due = Decimal(totals["total"])
        # The summary: what is due, last month's statement and the change.
        assert f"£{due:.2f}" in text and before["statement_number"] in text
        assert f"£{due - Decimal(before['totals']['total']):+.2f}" in text
        # A subtotal per service: IT is the laptops, the network share and the credit note, HR the payroll run.
        it = Decimal("1700.00") + Decimal(share["share"]) - Decimal("100.00")
        assert f"{it:.2f}" in text and "310.50" in text
        # The shared cost's basis and the council's driver: its sites of all the partners' sites.
        assert "70 sites of 76 sites (92.11%)" in text
        # The credit note in its own section, naming the disputed statement; pages numbered; signed.
        assert "Credit notes" in text and "-100.00" in text and before["statement_number"] in text
        assert "Page 1 of" in text and "Ed25519" in text

        rows = list(csv.DictReader(io.StringIO(api.get(
            f"/v1/finance/statements/{number}", params={"format": "csv"},
            headers={"Authorization": "Bearer dev-council"}).text)))
        assert {r["cost_centre"] for r in rows if r["section"] == "direct charge"} == {"ASC-100", "HR-7"}
        fields = set(rows[0])
        for section in SECTIONS:
            for line in (x for g in october[section] for x in g["lines"]) if section == "direct_charges" \
                    else october[section]:
                assert set(line) <= fields, set(line) - fields
        [note] = [r for r in rows if r["section"] == "credit note"]
        assert (note["amount"], note["disputed_statement"]) == ("-100.00", before["statement_number"])
        assert set(render.COLUMNS) == fields


class TestDocumentsOnPostgres(DocumentsContract, OnPostgres):
    pass
