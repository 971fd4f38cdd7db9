"""A tenant's statement for a period, built from its receivable postings; every line names its sources."""

import hashlib
import json
from collections import defaultdict
from decimal import Decimal

from sqlalchemy import Connection, select

from services.finance.ledger import tables as t


def _money(value) -> str:
    return str(Decimal(value).quantize(Decimal("0.01")))


def build(c: Connection, tenant: str, tenant_name: str, period: str) -> dict:
    """The statement's content, without number, issue date or hash (added when issued)."""
    p, ch, sc = t.postings.c, t.charges.c, t.shared_costs.c
    # One pass, joined: a month may hold a million lines, too many to look up by id.
    query = (select(t.postings, ch.charge_id, ch.request_id, ch.request_type, ch.kind, ch.cost_centre,
                    ch.description.label("charge_description"), ch.quantity, ch.unit_price,
                    sc.cost_id, sc.description.label("cost_description"), sc.amount.label("cost_total"))
             .select_from(t.postings.outerjoin(t.charges, p.source_id == ch.charge_id)
                          .outerjoin(t.shared_costs, p.source_id == sc.cost_id))
             .where(p.period == period, p.account == f"receivable:{tenant}").order_by(p.id))
    rows = c.execute(query).mappings().all()

    direct: dict[tuple, list] = defaultdict(list)
    shared, adjustments = [], []
    for r in rows:
        amount = Decimal(r["debit"]) - Decimal(r["credit"])
        if r["source"] == "shared_cost":
            line = {"cost_id": r["cost_id"], "event_id": r["event_id"], "service": r["service"],
                    "description": r["cost_description"], "cost_total": _money(r["cost_total"]), "basis": r["basis"],
                    "exact_share": r["exact_share"], "share": _money(amount),
                    "rounding": str(amount - Decimal(r["exact_share"])), "original_period": r["original_period"]}
        else:
            line = {"charge_id": r["charge_id"], "event_id": r["event_id"], "request_id": r["request_id"],
                    "service": r["service"], "request_type": r["request_type"], "kind": r["kind"],
                    "cost_centre": r["cost_centre"], "description": r["charge_description"],
                    "quantity": format(Decimal(r["quantity"]).normalize(), "f"), "unit_price": _money(r["unit_price"]),
                    "amount": _money(amount), "original_period": r["original_period"]}
        if r["original_period"] != period or r["source"] == "reversal" or line.get("kind") == "correction":
            adjustments.append({"type": "reversal" if r["source"] == "reversal" else r["source"], **line,
                                "amount": _money(amount)})
        elif r["source"] == "shared_cost":
            shared.append(line)
        else:
            direct[(r["service"], r["request_type"])].append(line)

    groups = [{"service": s, "request_type": rt, "count": len(lines),
               "amount": _money(sum(Decimal(x["amount"]) for x in lines)), "lines": lines}
              for (s, rt), lines in sorted(direct.items())]
    totals = {"direct_charges": sum((Decimal(g["amount"]) for g in groups), Decimal(0)),
              "shared_costs": sum((Decimal(x["share"]) for x in shared), Decimal(0)),
              "prior_period_adjustments": sum((Decimal(x["amount"]) for x in adjustments), Decimal(0))}
    totals["total"] = sum(totals.values(), Decimal(0))
    return {"tenant": {"code": tenant, "name": tenant_name}, "period": period, "direct_charges": groups,
            "shared_costs": shared, "prior_period_adjustments": adjustments,
            "totals": {k: _money(v) for k, v in totals.items()}}


def canonical(content: dict) -> str:
    return json.dumps(content, sort_keys=True, separators=(",", ":"))


def seal(content: dict, number: str, issued_at: str) -> dict:
    """Number and date the statement, and hash everything else so any later change shows."""
    body = {**content, "statement_number": number, "issued_at": issued_at}
    return {**body, "content_sha256": hashlib.sha256(canonical(body).encode()).hexdigest()}
