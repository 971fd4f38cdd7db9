"""The ledger's posting rules: double-entry pairs, the statement an entry shows on, who answers for
it, apportioned shares and their reversals. Plain code: what the database holds is passed in."""

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson

from services.finance.ledger.apportionment import Share, next_period
from shared import ids
from shared.events import Event
from shared.fields import first_day
from shared.tenants import Registry, RegistryError

ZERO = Decimal("0.00")
PENNY = Decimal("0.01")
MAX_AMOUNT = Decimal("100000000.00")

# What each refusal code answers with at the API.
STATUS = {"not_found": 404, "already_corrected": 409, "already_withdrawn": 409, "already_disputed": 409,
          "already_answered": 409, "already_credited": 409, "cannot_apportion": 422, "not_billable": 422,
          "invalid": 422, "unsupported": 422}

# A charge event's data as the codec validated it: ChargeRecorded in its JSON form (ids and amounts as
# strings, defaults filled in). The ledger reads it as it is rather than validating it a second time.
Charge = Mapping[str, Any]


class Conflict(ValueError):
    """An event id seen before with different content: never posted twice, never overwritten."""


class Unpostable(ValueError):
    """A well-formed event the ledger cannot post (unknown tenant on that date, nothing to correct).

    `code` says which kind of refusal it is (a key of STATUS), `detail` what the caller may need
    (the charge that corrected one already)."""

    def __init__(self, reason: str, code: str = "invalid", **detail):
        super().__init__(reason)
        self.reason, self.code, self.detail = reason, code, detail
        self.subject: str | None = None  # the charge or cost refused, and when: set once recorded
        self.refused_at: datetime | None = None


def content_hash(event: Event) -> str:
    """SHA-256 of the event but its time (a redelivery may be stamped anew), as compact JSON, keys sorted."""
    body = {name: value for name, value in vars(event).items() if name != "time"}  # its fields, as they are
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def same_content(recorded: str, event: Event, digest: str) -> bool:
    """Whether `event`, hashed to `digest`, is the event recorded under `recorded`. Events recorded before
    2026-12 carry the hash of the `json.dumps` form, worked out only when the first comparison fails."""
    if recorded == digest:
        return True
    body = event.model_dump(mode="json", exclude={"time"})
    return recorded == hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def refusal_id(event_id: str | UUID) -> UUID:
    """The id of the refusal of `event_id`: the same on every redelivery, so it is told once."""
    return ids.derived(f"refusal/{event_id}")


def shown_on(period: str, closed: Iterable[str]) -> str:
    """The period whose statement shows an entry for `period`: itself, or the next open one."""
    closed = set(closed)
    while period in closed:
        period = next_period(period)
    return period


def billed(registry: Registry, tenant: str, period: str, statement: str, what: str) -> str:
    """Who answers for an entry of `tenant` for `period` shown on `statement`'s period: the tenant,
    or, once it has ended by then, its successor. Unpostable if the tenant could not be billed for
    `period` at all (before it joined, or ended without a successor)."""
    try:
        registry.accountable(tenant, first_day(period))
        return registry.accountable(tenant, first_day(statement)).code
    except RegistryError as exc:
        raise Unpostable(f"{what}: {exc}", "not_billable") from None


def pair(*, event_id: str, source: str, source_id: str, tenant: str, service: str, amount: Decimal, period: str,
         original_period: str, for_tenant: str | None = None, basis: str | None = None,
         exact_share: Decimal | None = None, posted_at: datetime | None = None) -> list[dict]:
    """Debit the tenant's receivable, credit the service's income (a negative amount swaps the sides).

    `tenant` is who is billed; `for_tenant` whom the entry was for, when a successor answers for it."""
    debit, credit = (amount, ZERO) if amount >= 0 else (ZERO, -amount)
    common = {"event_id": event_id, "source": source, "source_id": source_id, "service": service, "period": period,
              "original_period": original_period, "basis": basis, "posted_at": posted_at or datetime.now(UTC),
              "tenant": tenant, "for_tenant": for_tenant or tenant}
    return [{**common, "account": f"receivable:{tenant}", "debit": debit, "credit": credit,
             "exact_share": str(exact_share) if exact_share is not None else None},
            {**common, "account": f"income:{service}", "debit": credit, "credit": debit, "exact_share": None}]


def charge_postings(event_id: str, charge: Charge, for_tenant: str, tenant: str, statement: str,
                    posted_at: datetime | None = None) -> list[dict]:
    return pair(event_id=event_id, source="charge", source_id=charge["charge_id"], tenant=tenant,
                for_tenant=for_tenant, service=charge["service"], amount=Decimal(charge["amount"]), period=statement,
                original_period=charge["period"], posted_at=posted_at)


def reversal_postings(event: Event, original: dict, tenant: str, statement: str) -> list[dict]:
    """Take a posted charge back in full: its amount negated, for whom it was for."""
    return pair(event_id=str(event.id), source="reversal", source_id=original["charge_id"], tenant=tenant,
                for_tenant=original["tenant"], service=original["service"], amount=-Decimal(original["amount"]),
                period=statement, original_period=original["period"])


def share_postings(registry: Registry, cost: dict, cost_shares: list[Share], statement: str) -> list[dict]:
    """Each share of `cost` on `statement`'s period, billed to whoever answers for its tenant then."""
    rows = []
    for share in cost_shares:
        tenant = billed(registry, share.tenant, cost["period"], statement, f"shared cost {cost['cost_id']}")
        rows += pair(event_id=cost["event_id"], source="shared_cost", source_id=cost["cost_id"], tenant=tenant,
                     for_tenant=share.tenant, service=cost["service"], amount=share.amount, period=statement,
                     original_period=cost["period"], basis=cost["basis"], exact_share=share.exact)
    return rows


def withdrawal_postings(registry: Registry, event_id: str, cost: dict, posted: list[dict],
                        statement: str) -> list[dict]:
    """Reverse every share `posted` for `cost` (its receivable postings) on `statement`'s period."""
    rows = []
    for share in posted:
        tenant = billed(registry, share["for_tenant"], cost["period"], statement, f"shared cost {cost['cost_id']}")
        exact = Decimal(share["exact_share"]) if share["exact_share"] is not None else None
        rows += pair(event_id=event_id, source="withdrawal", source_id=cost["cost_id"], tenant=tenant,
                     for_tenant=share["for_tenant"], service=cost["service"],
                     amount=-(Decimal(share["debit"]) - Decimal(share["credit"])), period=statement,
                     original_period=cost["period"], basis=cost["basis"],
                     exact_share=-exact if exact is not None else None)
    return rows


def charge_row(event_id: str, charge: Charge, tenant: str, billed_tenant: str) -> dict:
    return dict(
        charge_id=charge["charge_id"], event_id=event_id, tenant=tenant, billed_tenant=billed_tenant,
        service=charge["service"], request_type=charge["request_type"], kind=charge["kind"],
        quantity=Decimal(charge["quantity"]), unit_price=Decimal(charge["unit_price"]),
        amount=Decimal(charge["amount"]), cost_centre=charge["cost_centre"], period=charge["period"],
        request_id=charge["request_id"], description=charge["description"], corrects=charge["corrects"],
        amount_set_by_hand=charge["amount_set_by_hand"])


class CorrectionError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def corrected(unit_price: Decimal, quantity: Decimal, new_amount: Decimal | None,
              new_quantity: Decimal | None) -> tuple[Decimal, Decimal, Decimal, bool]:
    """(quantity, unit price, amount, amount set by hand) of a correction of a charge of `quantity`
    at `unit_price`. The unit price is kept where that is exact: a new quantity alone is charged at
    it; a new amount becomes the unit price if it divides into whole pence, else the unit price
    stays and the amount is marked as set by hand."""
    quantity = new_quantity or quantity
    if new_amount is None:
        if new_quantity is None:
            raise CorrectionError("amount", "give the corrected amount, the corrected quantity, or both")
        amount = unit_price * quantity
        if amount != amount.quantize(PENNY):
            raise CorrectionError("amount", f"{quantity} × £{unit_price} is not a whole number of pence: "
                                            "give the corrected amount too")
        if amount > MAX_AMOUNT:
            raise CorrectionError("quantity", f"{quantity} × £{unit_price} is more than £{MAX_AMOUNT}")
        return quantity, unit_price, amount.quantize(PENNY), False
    unit = new_amount / quantity
    if unit == unit.quantize(PENNY):
        return quantity, unit.quantize(PENNY), new_amount, False
    return quantity, unit_price, new_amount, True


def check_period(registry: Registry, period: str) -> None:
    """A shared cost belongs to a month in which the shared service had partners to share it."""
    if not registry.active(first_day(period)):
        raise Unpostable(f"period: no partner was a tenant of the shared service on {first_day(period)}",
                         "not_billable")
