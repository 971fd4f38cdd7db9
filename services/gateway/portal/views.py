"""What each portal page shows, gathered from the API's answers, and how amounts and times read."""

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import quote

from services.gateway.portal.calls import Caller
from shared.api.auth import Principal
from shared.request_engine import lifecycle

SECTION_TITLES = {"direct_charges": "Direct charges", "shared_costs": "Shared costs", "corrections": "Corrections",
                  "prior_period_adjustments": "Prior-period adjustments", "credit_notes": "Credit notes"}

ADJUSTED = ("corrections", "prior_period_adjustments", "credit_notes")  # a draft's totals shown as one


def money(value) -> str:
    return f"£{Decimal(value or 0):,.2f}"


def when(iso: str | None) -> str:
    return iso[:16].replace("T", " ") if iso else ""


def sla(request: dict, now: datetime | None = None) -> str:
    """The SLA clock as a person reads it: time left, or how late."""
    if request["status"] in ("completed", "rejected", "cancelled"):
        return "breached" if request.get("sla_breached") else "met"
    left = datetime.fromisoformat(request["sla_due_at"]) - (now or datetime.now(UTC))
    hours = abs(left.total_seconds()) / 3600
    span = f"{hours / 24:.0f} d" if hours >= 48 else f"{hours:.0f} h" if hours >= 1 else "under an hour"
    return f"due in {span}" if left.total_seconds() > 0 else f"overdue by {span}"


def measures(quantity: str | None, hours: str | None, value: str | None) -> dict:
    """The measure a form gave (only one is shown for a request type), as the API takes it."""
    given = {"quantity": quantity, "hours": hours, "value": value}
    return {name: int(v) if name == "quantity" and v.isdigit() else v for name, v in given.items() if v}


def statement_lines(statement: dict, section: str) -> list[dict]:
    if section == "direct_charges":
        return [x for group in statement.get("direct_charges", []) for x in group["lines"]]
    return statement.get(section, [])


def statement_sections(statement: dict) -> list[tuple[str, str, list[dict]]]:
    """(key, title, lines) of each section a statement has."""
    return [(key, title, statement_lines(statement, key)) for key, title in SECTION_TITLES.items()
            if key in statement]


def spend(draft: dict | None) -> dict[str, Decimal]:
    """Per service, what the month's draft statement holds so far."""
    found: dict[str, Decimal] = defaultdict(Decimal)
    for key in SECTION_TITLES:
        for line in statement_lines(draft or {}, key):
            found[line["service"]] += Decimal(line.get("amount") or line.get("share") or 0)
    return dict(sorted(found.items()))


async def partner(api: Caller, who: Principal, period: str, budgets: dict[str, Decimal]) -> dict:
    catalogue = await api.get("/v1/catalogue")
    listed = await api.get("/v1/requests", limit=50)
    preview = await api.get(f"/v1/finance/periods/{quote(period, safe='')}/preview")
    statements = await api.get("/v1/finance/statements")
    drafts = preview.body["statements"] if preview.ok else []
    by_service = spend(drafts[0] if drafts else None)
    total = sum(by_service.values(), Decimal(0))
    budget = budgets.get(who.tenant)
    return {"catalogue": catalogue.body if catalogue.ok else {},
            "requests": listed.body["items"] if listed.ok else [], "spend": by_service, "spent": total,
            "budget": budget, "used": (total / budget * 100) if budget else None,
            "statements": list(reversed(statements.body)) if statements.ok else []}


async def queue(api: Caller, who: Principal, status: str | None) -> dict:
    """A staff member's service queue, and the transitions staff may take at each status."""
    found = await api.get("/v1/requests", service=who.service, status=status, limit=100)
    return {"queue": found.body["items"] if found.ok else [], "allowed": lambda at: lifecycle.allowed(at, "staff")}


async def finance(api: Caller, period: str) -> dict:
    preview = await api.get(f"/v1/finance/periods/{quote(period, safe='')}/preview")
    state = await api.get(f"/v1/finance/periods/{quote(period, safe='')}")
    disputes = await api.get("/v1/finance/disputes", status="open")
    statements = await api.get("/v1/finance/statements", period=period)
    drafts = [{**d, "adjusted": sum((Decimal(d["totals"].get(name, 0)) for name in ADJUSTED), Decimal(0))}
              for d in (preview.body["statements"] if preview.ok else [])]
    return {"drafts": drafts,
            "blockers": preview.body["blockers"] if preview.ok else [],
            "status": state.body["status"] if state.ok else "unknown",
            "disputes": disputes.body if disputes.ok else [],
            "statements": statements.body if statements.ok else []}
