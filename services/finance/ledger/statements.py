"""A tenant's statement for a period, built from its receivable postings; every line names its sources.

Plain code over the rows `Books.statement_lines` reads (or a preview's shares not yet posted), and
over the rows a close streams (`direct_text`: a direct charge written straight to its canonical
text). Sections: direct charges by service and request type; apportioned shared costs (a credit
shown as one); corrections of the period itself (reversals and the charges that replace them); and
prior-period adjustments, the entries for earlier periods that landed here; and credit notes, the
accepted disputes (a credit to the partner that disputed, or a share of it apportioned back to the
others that bore a shared cost).
"""

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from json.encoder import encode_basestring_ascii as quoted  # a string as `canonical` writes it

SECTIONS = ("direct_charges", "shared_costs", "corrections", "prior_period_adjustments", "credit_notes")
COST_SOURCES = ("shared_cost", "withdrawal")
CREDIT_SOURCES = ("credit_note", "reapportioned")  # the postings of an accepted dispute


def pounds(value) -> str:
    """An amount as a statement shows it: "12.30"."""
    return str(Decimal(value).quantize(Decimal("0.01")))


def _note(r: dict, tenant: str, names: Mapping[str, str]) -> tuple[str | None, str]:
    """Whom the line was for when a successor answers for it, and what the line should say plainly."""
    notes = []
    on_behalf_of = r.get("for_tenant") if r.get("for_tenant") not in (None, tenant) else None
    if on_behalf_of:
        notes.append(f"for {names.get(on_behalf_of, on_behalf_of)} ({on_behalf_of}), billed to its successor")
    if r["source"] == "withdrawal":
        notes.append("shared cost withdrawn: its share reversed")
    if r["source"] == "shared_cost" and r.get("cost_total") is not None and Decimal(r["cost_total"]) < 0:
        notes.append(f"credit: {r['cost_reason']}" if r.get("cost_reason") else "credit")
    if r.get("replaces"):
        notes.append(f"re-based from shared cost {r['replaces']}")
    if r["source"] == "charge" and r.get("amount_set_by_hand"):
        notes.append("amount set by hand")
    if r["source"] == "credit_note":
        notes.append(f"credit note: line {r['disputed_line']} of statement {r['disputed_statement']} disputed")
    if r["source"] == "reapportioned":
        notes.append("another partner's share of this cost credited after a dispute, borne by the others "
                     "in proportion to their shares")
    return on_behalf_of, "; ".join(notes)


def line(r: dict, tenant: str, names: Mapping[str, str]) -> dict:
    amount = Decimal(r["debit"]) - Decimal(r["credit"])
    on_behalf_of, note = _note(r, tenant, names)
    common = {"event_id": r["event_id"], "service": r["service"], "original_period": r["original_period"],
              "on_behalf_of": on_behalf_of, "note": note}
    if r["source"] in CREDIT_SOURCES:
        credit = {"type": r["source"], "dispute_id": r["source_id"], "description": r["disputed_description"],
                  "amount": pounds(amount), "reason": r["credit_reason"]}
        if r["source"] == "credit_note":
            return {**common, **credit, "disputed_statement": r["disputed_statement"],
                    "disputed_line": r["disputed_line"]}
        exact = Decimal(r["exact_share"])
        return {**common, **credit, "cost_id": r["disputed_line"], "basis": r["basis"], "exact_share": str(exact),
                "rounding": str(amount - exact)}
    if r["source"] in COST_SOURCES:
        exact = Decimal(r["exact_share"]) if r["exact_share"] is not None else amount
        return {**common, "cost_id": r["cost_id"], "description": r["cost_description"],
                "cost_total": pounds(r["cost_total"]), "basis": r["basis"], "exact_share": str(exact),
                "share": pounds(amount), "rounding": str(amount - exact),
                "credit": Decimal(r["cost_total"]) < 0, "reason": r.get("cost_reason")}
    return {**common, "charge_id": r["charge_id"], "request_id": r["request_id"], "request_type": r["request_type"],
            "kind": r["kind"], "cost_centre": r["cost_centre"], "description": r["charge_description"],
            "quantity": format(Decimal(r["quantity"]).normalize(), "f"), "unit_price": pounds(r["unit_price"]),
            "amount": pounds(amount),
            "amount_set_by_hand": r["source"] == "charge" and bool(r.get("amount_set_by_hand"))}


def entry(r: dict, tenant: str, period: str, names: Mapping[str, str]) -> tuple[str, dict]:
    """The section a row's line goes in, and the line as that section shows it.

    closing_queries.section is the same test, written for the database."""
    x = line(r, tenant, names)
    if r["source"] in CREDIT_SOURCES:
        return "credit_notes", x
    if r["original_period"] != period:  # an entry of an earlier period, landed here
        return "prior_period_adjustments", _typed(r, x)
    if r["source"] in ("reversal", "withdrawal") or x.get("kind") == "correction":
        return "corrections", _typed(r, x)
    return ("shared_costs" if r["source"] == "shared_cost" else "direct_charges"), x


def _typed(r: dict, x: dict) -> dict:
    return {"type": r["source"], **x, "amount": x["share"] if r["source"] in COST_SOURCES else x["amount"]}


# What a direct charge's line is written from (`direct_text`): first its group (service, request
# type); amounts as text ("12.30"), the quantity normalised ("2.5").
DIRECT_FIELDS = ("service", "request_type", "amount", "amount_set_by_hand", "charge_id", "cost_centre",
                 "charge_description", "event_id", "kind", "for_tenant", "original_period", "quantity", "request_id",
                 "unit_price")
# A plain one (billed to its own tenant, amount not set by hand) as `canonical(line(...))` writes it.
_PLAIN_CHARGE = ('{"amount":"%s","amount_set_by_hand":false,"charge_id":%s,"cost_centre":%s,"description":%s,'
                 '"event_id":%s,"kind":%s,"note":"","on_behalf_of":null,"original_period":%s,"quantity":"%s",'
                 '"request_id":%s,"request_type":%s,"service":%s,"unit_price":"%s"}')


def direct_text(fields: tuple, tenant: str, names: Mapping[str, str]) -> str:
    """A direct charge's line as `canonical(line(...))` writes it, from its DIRECT_FIELDS in that order.
    Nearly every line of a large statement is one, so a plain one is formatted straight from the
    fields; one with something to say (whom it was for, an amount set by hand) takes `line`."""
    (service, request_type, amount, by_hand, charge_id, cost_centre, description, event_id, kind, for_tenant,
     original_period, quantity, request_id, unit_price) = fields
    if by_hand or for_tenant not in (None, tenant):
        return canonical(line({**dict(zip(DIRECT_FIELDS, fields)), "source": "charge", "debit": amount, "credit": 0},
                              tenant, names))
    return _PLAIN_CHARGE % (amount, quoted(charge_id), quoted(cost_centre), quoted(description), quoted(event_id),
                            quoted(kind), quoted(original_period), quantity,
                            "null" if request_id is None else quoted(request_id), quoted(request_type),
                            quoted(service), unit_price)


def build(rows: Iterable[dict], tenant: str, tenant_name: str, period: str, names: Mapping[str, str]) -> dict:
    """The statement's content, without number, issue date or hash (added when issued)."""
    direct: dict[tuple, list] = defaultdict(list)
    listed: dict[str, list] = {name: [] for name in SECTIONS if name != "direct_charges"}
    for r in rows:
        name, x = entry(r, tenant, period, names)
        if name == "direct_charges":
            direct[(r["service"], r["request_type"])].append(x)
        else:
            listed[name].append(x)
    groups = [{"service": s, "request_type": rt, "count": len(lines),
               "amount": pounds(sum(Decimal(x["amount"]) for x in lines)), "lines": lines}
              for (s, rt), lines in sorted(direct.items())]
    totals = totalled({"direct_charges": sum((Decimal(g["amount"]) for g in groups), Decimal(0)),
                       "shared_costs": sum((Decimal(x["share"]) for x in listed["shared_costs"]), Decimal(0)),
                       **{name: sum((Decimal(x["amount"]) for x in listed[name]), Decimal(0))
                          for name in ("corrections", "prior_period_adjustments", "credit_notes")}})
    return {"tenant": {"code": tenant, "name": tenant_name}, "period": period, "direct_charges": groups, **listed,
            "totals": totals}


def totalled(sections: Mapping[str, Decimal]) -> dict[str, str]:
    """A statement's totals: each section's, and what is due."""
    return {**{name: pounds(sections.get(name, 0)) for name in SECTIONS},
            "total": pounds(sum(sections.values(), Decimal(0)))}


def canonical(content: dict) -> str:
    return json.dumps(content, sort_keys=True, separators=(",", ":"))
