"""A tenant's statement for a period, built from its receivable postings; every line names its sources.

Plain code over the rows `Books.statement_lines` reads (or a preview's shares not yet posted).
Sections: direct charges by service and request type; apportioned shared costs (a credit shown as
one); corrections of the period itself (reversals and the charges that replace them); and
prior-period adjustments, the entries for earlier periods that landed here.
"""

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal

SECTIONS = ("direct_charges", "shared_costs", "corrections", "prior_period_adjustments")
COST_SOURCES = ("shared_cost", "withdrawal")


def _money(value) -> str:
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
    return on_behalf_of, "; ".join(notes)


def line(r: dict, tenant: str, names: Mapping[str, str]) -> dict:
    amount = Decimal(r["debit"]) - Decimal(r["credit"])
    on_behalf_of, note = _note(r, tenant, names)
    common = {"event_id": r["event_id"], "service": r["service"], "original_period": r["original_period"],
              "on_behalf_of": on_behalf_of, "note": note}
    if r["source"] in COST_SOURCES:
        exact = Decimal(r["exact_share"]) if r["exact_share"] is not None else amount
        return {**common, "cost_id": r["cost_id"], "description": r["cost_description"],
                "cost_total": _money(r["cost_total"]), "basis": r["basis"], "exact_share": str(exact),
                "share": _money(amount), "rounding": str(amount - exact),
                "credit": Decimal(r["cost_total"]) < 0, "reason": r.get("cost_reason")}
    return {**common, "charge_id": r["charge_id"], "request_id": r["request_id"], "request_type": r["request_type"],
            "kind": r["kind"], "cost_centre": r["cost_centre"], "description": r["charge_description"],
            "quantity": format(Decimal(r["quantity"]).normalize(), "f"), "unit_price": _money(r["unit_price"]),
            "amount": _money(amount), "amount_set_by_hand": r["source"] == "charge" and bool(r.get("amount_set_by_hand"))}


def build(rows: Iterable[dict], tenant: str, tenant_name: str, period: str, names: Mapping[str, str]) -> dict:
    """The statement's content, without number, issue date or hash (added when issued)."""
    direct: dict[tuple, list] = defaultdict(list)
    shared, corrections, adjustments = [], [], []
    for r in rows:
        x = line(r, tenant, names)
        amount = x["share"] if r["source"] in COST_SOURCES else x["amount"]
        if r["original_period"] != period:  # an entry of an earlier period, landed here
            adjustments.append({"type": r["source"], **x, "amount": amount})
        elif r["source"] in ("reversal", "withdrawal") or x.get("kind") == "correction":
            corrections.append({"type": r["source"], **x, "amount": amount})
        elif r["source"] == "shared_cost":
            shared.append(x)
        else:
            direct[(r["service"], r["request_type"])].append(x)

    groups = [{"service": s, "request_type": rt, "count": len(lines),
               "amount": _money(sum(Decimal(x["amount"]) for x in lines)), "lines": lines}
              for (s, rt), lines in sorted(direct.items())]
    totals = {"direct_charges": sum((Decimal(g["amount"]) for g in groups), Decimal(0)),
              "shared_costs": sum((Decimal(x["share"]) for x in shared), Decimal(0)),
              "corrections": sum((Decimal(x["amount"]) for x in corrections), Decimal(0)),
              "prior_period_adjustments": sum((Decimal(x["amount"]) for x in adjustments), Decimal(0))}
    totals["total"] = sum(totals.values(), Decimal(0))
    return {"tenant": {"code": tenant, "name": tenant_name}, "period": period, "direct_charges": groups,
            "shared_costs": shared, "corrections": corrections, "prior_period_adjustments": adjustments,
            "totals": {k: _money(v) for k, v in totals.items()}}


def canonical(content: dict) -> str:
    return json.dumps(content, sort_keys=True, separators=(",", ":"))


def seal(content: dict, number: str, issued_at: str) -> dict:
    """Number and date the statement, and hash everything else so any later change shows."""
    body = {**content, "statement_number": number, "issued_at": issued_at}
    return {**body, "content_sha256": hashlib.sha256(canonical(body).encode()).hexdigest()}
