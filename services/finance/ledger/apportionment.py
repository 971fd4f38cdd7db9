"""Who bears how much of a shared cost: pure, penny-exact, driven by the tenant registry."""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from shared.fields import first_day
from shared.money import apportion
from shared.tenants import Basis, Registry


class ApportionmentError(ValueError):
    pass


@dataclass(frozen=True)
class Share:
    tenant: str
    amount: Decimal  # whole pence
    exact: Decimal  # the unrounded quota; amount - exact is the rounding


def next_period(period: str) -> str:
    year, month = map(int, period.split("-"))
    return f"{year + month // 12}-{month % 12 + 1:02d}"


def shares(registry: Registry, basis: str, period: str, amount: Decimal,
           usage: Mapping[str, Decimal] | None = None) -> list[Share]:
    """Split `amount` among the tenants active on the first day of `period`.

    `usage` (basis "usage") is each tenant's direct charges for the cost's service in the period.
    """
    day = first_day(period)
    if basis == "usage":
        active = {t.code for t in registry.active(day)}
        weights = {t: u for t, u in (usage or {}).items() if t in active and u > 0}
        if not weights:
            raise ApportionmentError(f"no tenant used the service in {period}: nothing to apportion by usage")
    else:
        weights = registry.weights(Basis(basis), day)
    total = sum(weights.values())
    allocated = apportion(amount, weights)
    return [Share(t, allocated[t], (amount * weights[t] / total).quantize(Decimal("0.000001")))
            for t in sorted(weights)]
