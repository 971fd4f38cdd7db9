"""A statement as CSV (one row per line, with every source id) and as a PDF for a finance officer."""

import csv
import io
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

COLUMNS = ["statement_number", "tenant", "period", "section", "service", "item", "description", "quantity",
           "unit_price", "amount", "original_period", "basis", "exact_share", "rounding", "credit", "on_behalf_of",
           "note", "request_id", "charge_id", "cost_id", "event_id"]


def rows(statement: dict) -> list[dict]:
    head = {"statement_number": statement["statement_number"], "tenant": statement["tenant"]["code"],
            "period": statement["period"]}
    out = []
    for group in statement["direct_charges"]:
        for line in group["lines"]:
            out.append({**head, "section": "direct charge", "item": line["request_type"], **_pick(line)})
    for line in statement["shared_costs"]:
        out.append({**head, "section": "shared credit" if line.get("credit") else "shared cost", "item": line["basis"],
                    "amount": line["share"], **_pick(line)})
    for line in statement.get("corrections", []):
        out.append({**head, "section": f"correction ({line['type']})", "item": line.get("request_type", line.get("basis")),
                    **_pick(line)})
    for line in statement["prior_period_adjustments"]:
        out.append({**head, "section": f"adjustment ({line['type']})", "item": line.get("request_type", line.get("basis")),
                    **_pick(line)})
    for name, value in statement["totals"].items():
        out.append({**head, "section": "total", "item": name, "amount": value})
    return out


def _pick(line: dict) -> dict:
    keep = {k: v for k, v in line.items() if k in COLUMNS and k not in ("section", "item")}
    return keep if "amount" in keep else {**keep, "amount": line.get("share")}


def to_csv(statement: dict) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows(statement))
    return buffer.getvalue()


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


def to_pdf(statement: dict) -> bytes:
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

    def section(title: str, header: list[str], body: list[list[str]], numeric_from: int) -> None:
        story.append(Paragraph(title, styles["Heading3"]))
        if not body:
            story.append(Paragraph("None.", styles["Normal"]))
            return
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
        story.extend([table, Spacer(1, 4 * mm)])

    section("Direct charges", ["Reference", "Service", "Request type", "Cost centre", "Description", "Qty",
                               "Unit price £", "Amount £"],
            [[_ref(x), x["service"], x["request_type"], x["cost_centre"], _described(x, styles), x["quantity"],
              x["unit_price"], x["amount"]] for g in statement["direct_charges"] for x in g["lines"]], 5)
    section("Apportioned shared costs", ["Reference", "Service", "Description", "Basis", "Cost £", "Exact share £",
                                         "Rounding £", "Share £"],
            [[_ref(x), x["service"], _described(x, styles), x["basis"], x["cost_total"], x["exact_share"],
              x["rounding"], x["share"] + (" CR" if x.get("credit") else "")] for x in statement["shared_costs"]], 4)
    section("Corrections in this period", ["Reference", "Type", "Service", "Description", "Amount £"],
            [[_ref(x), x["type"], x["service"], _described(x, styles), x["amount"]]
             for x in statement.get("corrections", [])], 4)
    section("Prior-period adjustments", ["Reference", "Type", "Original period", "Service", "Description", "Amount £"],
            [[_ref(x), x["type"], x["original_period"], x["service"], _described(x, styles), x["amount"]]
             for x in statement["prior_period_adjustments"]], 5)
    totals = statement["totals"]
    section("Totals", ["Direct charges £", "Shared costs £", "Corrections £", "Adjustments £", "Total due £"],
            [[totals["direct_charges"], totals["shared_costs"], totals.get("corrections", "0.00"),
              totals["prior_period_adjustments"], totals["total"]]], 0)
    story.append(Paragraph("References are the first characters of the request, charge or cost id; the JSON and "
                           "CSV forms of this statement carry the full ids and the events behind every line.",
                           styles["Italic"]))
    doc.build(story)
    return buffer.getvalue()
