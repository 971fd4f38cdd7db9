"""A statement as CSV (one row per line, every field of the JSON line a column) and as a PDF for a
budget meeting: a summary (what is due, against last month, subtotals per service), then each
section, shared costs with their basis and the tenant's driver, page numbers and the signature.

Both read the lines one at a time (`statement_text.lines_of`): the CSV goes out a few thousand rows
at a time; the PDF lays its lines out in tables of a few hundred rows (one long table would be laid
out again at every page it breaks).
"""

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import islice
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from services.finance.ledger.statement_text import lines_of
from services.finance.ledger.statements import SECTIONS

# Every field a JSON line may have, so the CSV says what the JSON says; `item` names the line's group
# (request type, basis, disputed line) or, on a total's row, which total.
LINE_FIELDS = ("type", "service", "request_type", "cost_centre", "description", "kind", "quantity", "unit_price",
               "amount", "cost_total", "basis", "exact_share", "share", "rounding", "credit", "reason",
               "amount_set_by_hand", "original_period", "on_behalf_of", "note", "request_id", "charge_id", "cost_id",
               "dispute_id", "disputed_statement", "disputed_line", "event_id")
COLUMNS = ["statement_number", "tenant", "period", "section", "item", *LINE_FIELDS]


ROWS_PER_PIECE = 5_000  # CSV rows sent at a time
TABLE_ROWS = 200  # rows per PDF table


def _section(name: str, line: dict) -> str:
    """The CSV's name for a line's section (with its type where the section holds several)."""
    if name == "direct_charges":
        return "direct charge"
    if name == "shared_costs":
        return "shared credit" if line.get("credit") else "shared cost"
    if name == "credit_notes":
        return "credit note" if line["type"] == "credit_note" else "re-apportioned credit"
    return f"{'correction' if name == 'corrections' else 'adjustment'} ({line['type']})"


def rows(statement: Mapping) -> Iterator[dict]:
    head = {"statement_number": statement["statement_number"], "tenant": statement["tenant"]["code"],
            "period": statement["period"]}
    for name in SECTIONS:
        for line in lines_of(statement, name):
            item = line.get("request_type") or line.get("basis") or line.get("disputed_line")
            yield {**head, **line, "section": _section(name, line), "item": item, "amount": _amount(line)}
    for name, value in statement["totals"].items():
        yield {**head, "section": "total", "item": name, "amount": value}


def _amount(line: dict) -> str:
    return line["amount"] if "amount" in line else line["share"]


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
SECTION_TITLES = {"direct_charges": "Direct charges", "shared_costs": "Shared costs", "corrections": "Corrections",
                  "prior_period_adjustments": "Prior-period adjustments", "credit_notes": "Credit notes"}


@dataclass(frozen=True)
class Context:
    """What a reader of the PDF needs beside the statement: last month's statement (number, total) to
    compare with, the signature, and each shared cost's driver: the weights of its basis in its month,
    by (basis, period, service), each tenant's and so the total."""

    previous: tuple[str, str] | None = None
    signature: Mapping[str, str] = field(default_factory=dict)
    drivers: Mapping[tuple[str, str, str], Mapping[str, Decimal]] = field(default_factory=dict)


def _ref(line: dict) -> str:
    return (line.get("request_id") or line.get("cost_id") or line.get("charge_id") or "")[:8]


def _described(line: dict, styles) -> Paragraph:
    """The description, and in bold what the line must say plainly (a credit, an amount set by hand,
    whom it was for)."""
    text = escape((line.get("description") or "")[:60])
    if line.get("note"):
        text += f"<br/><b>{escape(line['note'])}</b>"
    return Paragraph(text, styles["BodyText"])


def _table(header: list[str], body: list[list], numeric_from: int, bold_last: bool = False) -> Table:
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
        *([("FONTNAME", (0, -1), (-1, -1), "Helvetica-Bold")] if bold_last else []),
    ]))
    return table


def _driver(line: dict, tenant: str, context: Context) -> str:
    """The tenant's weight on the cost's basis against everyone's: why its share is what it is."""
    weights = context.drivers.get((line["basis"], line["original_period"], line["service"]))
    whose = line.get("on_behalf_of") or tenant
    if not weights or whose not in weights:
        return "—"
    total = sum(weights.values())
    unit = {"staff": " staff", "sites": " sites", "budget": "", "fixed": "%", "usage": ""}.get(line["basis"], "")
    money = "£" if line["basis"] in ("budget", "usage") else ""
    return f"{money}{weights[whose]:,}{unit} of {money}{total:,}{unit} ({weights[whose] / total:.2%})"


def _columns(name: str, tenant: str, context: Context, styles) -> tuple[list[str], int, Callable[[dict], list]]:
    """A section's table: its header, where its numbers start, and a line's row."""
    if name == "direct_charges":
        return (["Reference", "Service", "Request type", "Cost centre", "Description", "Qty", "Unit price £",
                 "Amount £"], 5,
                lambda x: [_ref(x), x["service"], x["request_type"], x["cost_centre"], _described(x, styles),
                           x["quantity"], x["unit_price"], x["amount"]])
    if name == "shared_costs":
        return (["Reference", "Service", "Description", "Basis", "Driver", "Cost £", "Exact share £", "Rounding £",
                 "Share £"], 5,
                lambda x: [_ref(x), x["service"], _described(x, styles), x["basis"], _driver(x, tenant, context),
                           x["cost_total"], x["exact_share"], x["rounding"], x["share"] + (" CR" if x.get("credit")
                                                                                         else "")])
    if name == "credit_notes":
        return (["Dispute", "Type", "Service", "Disputed line", "Description", "Amount £"], 5,
                lambda x: [x["dispute_id"][:8], x["type"].replace("_", " "), x["service"],
                           f"{x.get('disputed_statement') or ''} {(x.get('disputed_line') or x.get('cost_id'))[:8]}",
                           _described(x, styles), x["amount"]])
    return (["Reference", "Type", "Original period", "Service", "Description", "Amount £"], 5,
            lambda x: [_ref(x), x["type"], x["original_period"], x["service"], _described(x, styles), x["amount"]])


class _NumberedCanvas(canvas.Canvas):
    """Pages numbered "page N of M": each page is kept until the last is known."""

    def __init__(self, *args, footer: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.footer, self.pages = footer, []

    def showPage(self) -> None:  # noqa: N802 (reportlab's name)
        self.pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        for number, page in enumerate(self.pages, 1):
            self.__dict__.update(page)
            self.setFont("Helvetica", 7)
            self.drawString(15 * mm, 8 * mm, self.footer)
            self.drawRightString(self._pagesize[0] - 15 * mm, 8 * mm, f"Page {number} of {len(self.pages)}")
            super().showPage()
        super().save()


def _summary(statement: Mapping, subtotals: Mapping[str, Mapping[str, Decimal]], context: Context,
             styles) -> list:
    """What a budget meeting reads first: what is due, against last month, and per service. Amounts are
    written as the JSON has them (no thousands separator), so a search finds the statement's figures."""
    totals = statement["totals"]
    due = Decimal(totals["total"])
    rows = [["Total due", f"£{due:.2f}"]]
    if context.previous:
        number, before = context.previous
        rows += [[f"Last month ({number})", f"£{Decimal(before):.2f}"], ["Change", f"£{due - Decimal(before):+.2f}"]]
    else:
        rows.append(["Last month", "no earlier statement"])
    names = [name for name in SECTIONS if name in totals]
    per_service = [[service, *(f"{subtotals[service].get(name, Decimal(0)):.2f}" for name in names),
                    f"{sum(subtotals[service].values(), Decimal(0)):.2f}"] for service in sorted(subtotals)]
    per_service.append(["All services", *(f"{Decimal(totals[name]):.2f}" for name in names), f"{due:.2f}"])
    return [Paragraph("Summary", styles["Heading2"]), _table(["", "£"], rows, 1), Spacer(1, 4 * mm),
            Paragraph("Subtotals by service", styles["Heading3"]),
            _table(["Service", *(f"{SECTION_TITLES[name]} £" for name in names), "Total £"], per_service, 1,
                   bold_last=True),
            Spacer(1, 6 * mm)]


def to_pdf(statement: Mapping, context: Context = Context()) -> bytes:
    styles = getSampleStyleSheet()
    buffer = io.BytesIO()
    number, tenant = statement["statement_number"], statement["tenant"]
    doc = SimpleDocTemplate(buffer, pagesize=landscape(A4), leftMargin=15 * mm, rightMargin=15 * mm,
                            topMargin=15 * mm, bottomMargin=15 * mm, title=f"Recharge statement {number}")
    sealed = f"content SHA-256 {statement['content_sha256']}"
    if context.signature.get("signature"):
        sealed += f" · signed (Ed25519, key {context.signature.get('key_id')}): {context.signature['signature']}"
    story = [
        Paragraph("Herefordshire Public Services — shared back office", styles["Title"]),
        Paragraph(f"Recharge statement <b>{number}</b> for <b>{escape(tenant['name'])}</b> ({tenant['code']}), "
                  f"period <b>{statement['period']}</b>", styles["Heading2"]),
        Paragraph(f"Issued {statement['issued_at'][:19].replace('T', ' ')} UTC", styles["Normal"]),
        Paragraph(escape(sealed), styles["Code"]),
        Spacer(1, 4 * mm),
    ]
    summary_at = len(story)
    subtotals: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))

    def counted(name: str, lines: Iterable[dict]) -> Iterator[dict]:
        for x in lines:
            subtotals[x["service"]][name] += Decimal(_amount(x))
            yield x

    for name in SECTIONS:
        header, numeric_from, row = _columns(name, tenant["code"], context, styles)
        story.append(Paragraph(SECTION_TITLES[name], styles["Heading3"]))
        body, tables = (row(x) for x in counted(name, lines_of(statement, name))), 0
        while chunk := list(islice(body, TABLE_ROWS)):
            story.append(_table(header, chunk, numeric_from))
            tables += 1
        story.append(Spacer(1, 4 * mm) if tables else Paragraph("None.", styles["Normal"]))
    story[summary_at:summary_at] = _summary(statement, subtotals, context, styles)
    story.append(Paragraph("References are the first characters of the request, charge, cost or dispute id; the JSON "
                           "and CSV forms of this statement carry the full ids and the events behind every line. "
                           "The signature can be checked with the key published at "
                           "/.well-known/hps-statement-keys.json.", styles["Italic"]))
    footer = f"{number} · {tenant['name']} · {statement['period']}"
    doc.build(story, canvasmaker=lambda *a, **kw: _NumberedCanvas(*a, footer=footer, **kw))
    return buffer.getvalue()
