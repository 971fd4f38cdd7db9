"""The ledger's entries: double-entry postings, the period they show on, apportioned shares."""

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import Connection, func, insert, select, update

from services.finance.ledger import tables as t
from services.finance.ledger.apportionment import ApportionmentError, Share, next_period, shares
from shared.contracts import ChargeRecorded
from shared.events import Event
from shared.fields import first_day
from shared.tenants import Registry, RegistryError

ZERO = Decimal("0.00")


class Conflict(ValueError):
    """An event id seen before with different content: never posted twice, never overwritten."""


class Unpostable(ValueError):
    """A well-formed event the ledger cannot post (unknown tenant on that date, nothing to correct)."""


def content_hash(event: Event) -> str:
    body = event.model_dump(mode="json", exclude={"time"})
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def lock(c: Connection) -> None:
    """Serialise ledger writers; see tables.control."""
    c.execute(update(t.control).where(t.control.c.id == 1).values(writes=t.control.c.writes + 1))


def is_closed(c: Connection, period: str) -> bool:
    return c.execute(select(t.periods.c.status).where(t.periods.c.period == period)).scalar() == "closed"


def statement_period(c: Connection, period: str) -> str:
    """The period whose statement shows an entry for `period`: itself, or the next open one."""
    while is_closed(c, period):
        period = next_period(period)
    return period


def pair(*, event_id: str, source: str, source_id: str, tenant: str, service: str, amount: Decimal, period: str,
         original_period: str, basis: str | None = None, exact_share: Decimal | None = None) -> list[dict]:
    """Debit the tenant's receivable, credit the service's income (a negative amount swaps the sides)."""
    debit, credit = (amount, ZERO) if amount >= 0 else (ZERO, -amount)
    common = {"event_id": event_id, "source": source, "source_id": source_id, "service": service, "period": period,
              "original_period": original_period, "basis": basis, "posted_at": datetime.now(UTC), "tenant": tenant}
    return [{**common, "account": f"receivable:{tenant}", "debit": debit, "credit": credit,
             "exact_share": str(exact_share) if exact_share is not None else None},
            {**common, "account": f"income:{service}", "debit": credit, "credit": debit, "exact_share": None}]


def post_pair(c: Connection, **entry) -> None:
    c.execute(insert(t.postings), pair(**entry))


def post_shares(c: Connection, cost: dict, cost_shares: list[Share], period: str) -> None:
    for share in cost_shares:
        post_pair(c, event_id=cost["event_id"], source="shared_cost", source_id=cost["cost_id"], tenant=share.tenant,
                  service=cost["service"], amount=share.amount, period=period, original_period=cost["period"],
                  basis=cost["basis"], exact_share=share.exact)
    c.execute(update(t.shared_costs).where(t.shared_costs.c.cost_id == cost["cost_id"]).values(apportioned=1))


def usage(c: Connection, service: str, period: str) -> dict[str, Decimal]:
    """Each tenant's direct charges net of reversals for `service` in `period`."""
    p = t.postings.c
    rows = c.execute(select(p.tenant, func.sum(p.debit - p.credit)).where(
        p.account.like("receivable:%"), p.service == service, p.original_period == period,
        p.source.in_(("charge", "reversal"))).group_by(p.tenant)).all()
    return {tenant: Decimal(total) for tenant, total in rows}


def check_period(registry: Registry, period: str) -> None:
    """A shared cost belongs to a month in which the shared service had partners to share it."""
    if not registry.active(first_day(period)):
        raise Unpostable(f"period: no partner was a tenant of the shared service on {first_day(period)}")


def apportion_cost(c: Connection, registry: Registry, cost: dict, period: str) -> None:
    try:
        cost_shares = shares(registry, cost["basis"], cost["period"], Decimal(cost["amount"]),
                             usage(c, cost["service"], cost["period"]))
    except (ApportionmentError, RegistryError) as exc:
        raise Unpostable(f"shared cost {cost['cost_id']}: {exc}") from None
    post_shares(c, cost, cost_shares, period)


def charge_row(event: Event, charge: ChargeRecorded, billed: str) -> dict:
    return dict(
        charge_id=str(charge.charge_id), event_id=str(event.id), tenant=event.tenant, billed_tenant=billed,
        service=charge.service, request_type=charge.request_type, kind=charge.kind, quantity=charge.quantity,
        unit_price=charge.unit_price, amount=charge.amount, cost_centre=charge.cost_centre, period=charge.period,
        request_id=str(charge.request_id) if charge.request_id else None, description=charge.description,
        corrects=str(charge.corrects) if charge.corrects else None)
