"""A finance command as its caller sees it, from what the ledger's database holds: pending until the
ledger decides, then applied (with what it posted) or refused (with the reason, as the API answers it)."""

import json
from decimal import Decimal

from services.finance.ledger import disputes
from services.finance.ledger.entries import STATUS
from shared.api.outcomes import Outcome
from shared.contracts.names import (
    CHARGE_RECORDED,
    DISPUTE_ACCEPTED,
    DISPUTE_RAISED,
    DISPUTE_REJECTED,
    SHARED_COST_RECORDED,
    SHARED_COST_WITHDRAWN,
)
from shared.db import aware

KINDS = {CHARGE_RECORDED: "charge", SHARED_COST_RECORDED: "shared_cost", SHARED_COST_WITHDRAWN: "withdrawal",
         DISPUTE_RAISED: "dispute", DISPUTE_ACCEPTED: "answer", DISPUTE_REJECTED: "answer"}


def pending(command_id: str, location: str, kind: str, subject: str, **ids) -> Outcome:
    return Outcome("pending", {"command_id": command_id, "state": "pending", "location": location, "kind": kind,
                               "subject": subject, **ids})


def _money(value) -> str:
    return str(Decimal(value).quantize(Decimal("0.01")))


def _ids(kind: str, body: dict) -> dict:
    """The ids a caller knows the command by, from the event it published."""
    keep = {"shared_cost": ("cost_id",), "correction": ("charge_id", "corrects"), "charge": ("charge_id",),
            "withdrawal": ("cost_id",), "rebasis": ("cost_id", "replacement_id"),
            "dispute": ("dispute_id", "statement_number", "line_id"), "answer": ("dispute_id",)}.get(kind, ())
    return {name: body[name] for name in keep if body.get(name)}


def _posted(found: dict) -> dict:
    """What the ledger posted for the command."""
    if charge := found.get("charge"):
        return {"charge_id": charge["charge_id"], "corrects": charge["corrects"],
                "quantity": format(Decimal(charge["quantity"]).normalize(), "f"),
                "unit_price": _money(charge["unit_price"]), "amount": _money(charge["amount"]),
                "amount_set_by_hand": bool(charge["amount_set_by_hand"])}
    if dispute := found.get("dispute"):
        return disputes.shown(dispute)
    costs = [{"cost_id": c["cost_id"], "basis": c["basis"], "amount": _money(c["amount"])}
             for c in found.get("costs") or []]
    if withdrawal := found.get("withdrawal"):
        return {"cost_id": withdrawal["cost_id"], "withdrawn": True, "reversed_on": withdrawal["reversed_on"],
                "replacement_id": withdrawal["replacement_id"], "replacement": costs[0] if costs else None}
    return costs[0] if costs else {}


def outcome(found: dict, location: str) -> Outcome:
    """`found` is Books.command's answer for the command id."""
    command, event, refusal = found["command"], found["event"], found["refusal"]
    body = json.loads(command["body"]) if command else {}
    event_type = (event or refusal or {}).get("event_type")
    kind = command["kind"] if command else KINDS.get(event_type, "event")
    if not command and found.get("charge") and found["charge"]["corrects"]:
        kind = "correction"
    subject = command["subject"] if command else (refusal["subject"] if refusal else None)
    resource = {"command_id": (command or event or refusal)["command_id" if command else "event_id"],
                "state": "pending", "location": location, "kind": kind, "subject": subject,
                "requested_by": command["requested_by"] if command else None,
                "requested_at": aware(command["requested_at"]).isoformat() if command else None, **_ids(kind, body)}
    if refusal:
        error = {"code": refusal["code"], "message": refusal["reason"], **json.loads(refusal["detail"])}
        resource.update(state="refused", refused_at=aware(refusal["refused_at"]).isoformat(), error=error)
        return Outcome("refused", resource, error, STATUS.get(refusal["code"], 422))
    if event:
        posted = _posted(found)
        resource.update(state="applied", applied_at=aware(event["applied_at"]).isoformat(), posted=posted)
        if not command and subject is None:
            resource["subject"] = posted.get("charge_id") or posted.get("cost_id") or posted.get("dispute_id")
        return Outcome("applied", resource)
    return Outcome("pending", resource)
