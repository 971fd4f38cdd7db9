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
    p = t.postings.c
    rows = c.execute(select(t.postings).where(p.period == period, p.account == f"receivable:{tenant}")
                     .order_by(p.id)).mappings().all()
    charge_ids = {r["source_id"] for r in rows if r["source"] in ("charge", "reversal")}
    cost_ids = {r["source_id"] for r in rows if r["source"] == "shared_cost"}
    charges = {r["charge_id"]: r for r in c.execute(select(t.charges).where(t.charges.c.charge_id.in_(charge_ids)))
               .mappings()} if charge_ids else {}
    costs = {r["cost_id"]: r for r in c.execute(select(t.shared_costs).where(t.shared_costs.c.cost_id.in_(cost_ids)))
             .mappings()} if cost_ids else {}

    direct: dict[tuple, list] = defaultdict(list)
    shared, adjustments = [], []
    for r in rows:
        amount = Decimal(r["debit"]) - Decimal(r["credit"])
        if r["source"] == "shared_cost":
            cost = costs[r["source_id"]]
            line = {"cost_id": cost["cost_id"], "event_id": r["event_id"], "service": cost["service"],
                    "description": cost["description"], "cost_total": _money(cost["amount"]), "basis": cost["basis"],
                    "exact_share": r["exact_share"], "share": _money(amount),
                    "rounding": str(amount - Decimal(r["exact_share"])), "original_period": r["original_period"]}
        else:
            charge = charges[r["source_id"]]
            line = {"charge_id": charge["charge_id"], "event_id": r["event_id"], "request_id": charge["request_id"],
                    "service": charge["service"], "request_type": charge["request_type"], "kind": charge["kind"],
                    "cost_centre": charge["cost_centre"], "description": charge["description"],
                    "quantity": format(Decimal(charge["quantity"]).normalize(), "f"), "unit_price": _money(charge["unit_price"]),
                    "amount": _money(amount), "original_period": r["original_period"]}
        if r["original_period"] != period or r["source"] == "reversal" or line.get("kind") == "correction":
            adjustments.append({"type": "reversal" if r["source"] == "reversal" else r["source"], **line,
                                "amount": _money(amount)})
        elif r["source"] == "shared_cost":
            shared.append(line)
        else:
            direct[(charge["service"], charge["request_type"])].append(line)

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
