"""A statement as CSV (one row per line, with every source id) and as a PDF for a finance officer.

Both read the lines one at a time (`statement_text.lines_of`): the CSV goes out a few thousand rows
at a time; the PDF lays its lines out in tables of a few hundred rows (one long table would be laid
out again at every page it breaks).
"""

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from services.finance.ledger.statement_text import lines_of

COLUMNS = ["statement_number", "tenant", "period", "section", "service", "item", "description", "quantity",
           "unit_price", "amount", "original_period", "basis", "exact_share", "rounding", "credit", "on_behalf_of",
           "note", "request_id", "charge_id", "cost_id", "event_id"]


ROWS_PER_PIECE = 5_000  # CSV rows sent at a time
TABLE_ROWS = 200  # rows per PDF table


def rows(statement: Mapping) -> Iterator[dict]:
    head = {"statement_number": statement["statement_number"], "tenant": statement["tenant"]["code"],
            "period": statement["period"]}
    for line in lines_of(statement, "direct_charges"):
        yield {**head, "section": "direct charge", "item": line["request_type"], **_pick(line)}
    for line in lines_of(statement, "shared_costs"):
        yield {**head, "section": "shared credit" if line.get("credit") else "shared cost", "item": line["basis"],
               "amount": line["share"], **_pick(line)}
    for line in lines_of(statement, "corrections"):
        yield {**head, "section": f"correction ({line['type']})", "item": line.get("request_type", line.get("basis")),
               **_pick(line)}
    for line in lines_of(statement, "prior_period_adjustments"):
        yield {**head, "section": f"adjustment ({line['type']})", "item": line.get("request_type", line.get("basis")),
               **_pick(line)}
    for name, value in statement["totals"].items():
        yield {**head, "section": "total", "item": name, "amount": value}


def _pick(line: dict) -> dict:
    keep = {k: v for k, v in line.items() if k in COLUMNS and k not in ("section", "item")}
    return keep if "amount" in keep else {**keep, "amount": line.get("share")}


def csv_pieces(statement: Mapping) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for n, row in enumerate(rows(statement), 1):
        writer.writerow(row)
        if n % ROWS_PER_PIECE == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def to_csv(statement: Mapping) -> str:
    return "".join(csv_pieces(statement))


DESCRIPTION_MM = 90


def _ref(line: dict) -> str:
    return (line.get("request_id") or line.get("cost_id") or line.get("charge_id") or "")[:8]


def _described(line: dict, styles) -> Paragraph:
    """The description, and in bold what the line must say plainly (a credit, an amount set by hand,
    whom it was for)."""
    text = escape(line["description"][:60])
    if line.get("note"):
        text += f"<br/><b>{escape(line['note'])}</b>"
    return Paragraph(text, styles["BodyText"])


def _table(header: list[str], body: list[list], numeric_from: int) -> Table:
    # The description (with what the line must say plainly) gets room; the rest fit their content.
    widths = [DESCRIPTION_MM * mm if name == "Description" else None for name in header]
    table = Table([header, *body], colWidths=widths, repeatRows=1, hAlign="LEFT")
    table.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#1f3b57")),
        ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
        ("FONTSIZE", (0, 0), (-1, -1), 8),
        ("ALIGN", (numeric_from, 0), (-1, -1), "RIGHT"),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#eef2f6")]),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#b0b8c0")),
    ]))
    return table


def to_pdf(statement: Mapping) -> bytes:
    styles = getSampleStyleSheet()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=landscape(A4), leftMargin=15 * mm, rightMargin=15 * mm,
                            topMargin=15 * mm, bottomMargin=15 * mm,
                            title=f"Recharge statement {statement['statement_number']}")
    story = [
        Paragraph("Herefordshire Public Services — shared back office", styles["Title"]),
        Paragraph(f"Recharge statement <b>{statement['statement_number']}</b> for "
                  f"<b>{statement['tenant']['name']}</b> ({statement['tenant']['code']}), "
                  f"period <b>{statement['period']}</b>", styles["Heading2"]),
        Paragraph(f"Issued {statement['issued_at'][:19].replace('T', ' ')} UTC · content SHA-256 "
                  f"{statement['content_sha256']}", styles["Normal"]),
        Spacer(1, 6 * mm),
    ]

    def section(title: str, header: list[str], body: Iterable[list], numeric_from: int) -> None:
        story.append(Paragraph(title, styles["Heading3"]))
        body, tables = iter(body), 0
        while chunk := list(islice(body, TABLE_ROWS)):
            story.append(_table(header, chunk, numeric_from))
            tables += 1
        story.append(Spacer(1, 4 * mm) if tables else Paragraph("None.", styles["Normal"]))

    section("Direct charges", ["Reference", "Service", "Request type", "Cost centre", "Description", "Qty",
                               "Unit price £", "Amount £"],
            ([_ref(x), x["service"], x["request_type"], x["cost_centre"], _described(x, styles), x["quantity"],
              x["unit_price"], x["amount"]] for x in lines_of(statement, "direct_charges")), 5)
    section("Apportioned shared costs", ["Reference", "Service", "Description", "Basis", "Cost £", "Exact share £",
                                         "Rounding £", "Share £"],
            ([_ref(x), x["service"], _described(x, styles), x["basis"], x["cost_total"], x["exact_share"],
              x["rounding"], x["share"] + (" CR" if x.get("credit") else "")]
             for x in lines_of(statement, "shared_costs")), 4)
    section("Corrections in this period", ["Reference", "Type", "Service", "Description", "Amount £"],
            ([_ref(x), x["type"], x["service"], _described(x, styles), x["amount"]]
             for x in lines_of(statement, "corrections")), 4)
    section("Prior-period adjustments", ["Reference", "Type", "Original period", "Service", "Description", "Amount £"],
            ([_ref(x), x["type"], x["original_period"], x["service"], _described(x, styles), x["amount"]]
             for x in lines_of(statement, "prior_period_adjustments")), 5)
    totals = statement["totals"]
    section("Totals", ["Direct charges £", "Shared costs £", "Corrections £", "Adjustments £", "Total due £"],
            [[totals["direct_charges"], totals["shared_costs"], totals.get("corrections", "0.00"),
              totals["prior_period_adjustments"], totals["total"]]], 0)
    story.append(Paragraph("References are the first characters of the request, charge or cost id; the JSON and "
                           "CSV forms of this statement carry the full ids and the events behind every line.",
                           styles["Italic"]))
    doc.build(story)
    return buffer.getvalue()
