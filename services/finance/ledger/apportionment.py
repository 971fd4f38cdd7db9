"""Who bears how much of a shared cost: pure, penny-exact, driven by the tenant registry."""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import get_args

from shared import contracts
from shared.fields import first_day
from shared.money import apportion
from shared.tenants import Basis, Registry, RegistryError

BASES = get_args(contracts.Basis)  # every basis a shared cost may name
MILLIONTH = Decimal("0.000001")


class ApportionmentError(ValueError):
    pass


@dataclass(frozen=True)
class Share:
    tenant: str
    amount: Decimal  # whole pence; negative for a credit
    exact: Decimal  # the unrounded quota; amount - exact is the rounding


def next_period(period: str) -> str:
    year, month = map(int, period.split("-"))
    return f"{year + month // 12}-{month % 12 + 1:02d}"


def weights(registry: Registry, basis: str, period: str,
            usage: Mapping[str, Decimal] | None = None) -> dict[str, Decimal]:
    """Each tenant active on the first day of `period` that bears a part under `basis`, by its weight.

    A tenant whose weight is zero bears nothing and is left out; if that leaves nobody, the cost
    cannot be apportioned on that basis (ApportionmentError, saying why)."""
    day = first_day(period)
    try:
        if basis == "usage":
            active = {t.code for t in registry.active(day)}
            if not active:
                raise ApportionmentError(f"no tenant is active on {day}")
            found = {t: Decimal(u) for t, u in (usage or {}).items() if t in active and u > 0}
            if not found:
                raise ApportionmentError(f"no tenant used the service in {period}: nothing to apportion by usage")
            return found
        found = {t: Decimal(w) for t, w in registry.weights(Basis(basis), day).items() if w > 0}
    except RegistryError as exc:
        raise ApportionmentError(f"{basis}: {exc}") from None
    if not found:
        raise ApportionmentError(f"every tenant active on {day} has a zero weight on {basis}: "
                                 f"nothing to apportion by {basis}")
    return found


def shares(registry: Registry, basis: str, period: str, amount: Decimal,
           usage: Mapping[str, Decimal] | None = None) -> list[Share]:
    """Split `amount` (a cost, or a negative credit) among the tenants active on the first day of
    `period` with a weight under `basis`.

    `usage` (basis "usage") is each tenant's direct charges for the cost's service in the period.
    """
    found = weights(registry, basis, period, usage)
    total = sum(found.values())
    allocated = apportion(amount, found)
    return [Share(t, allocated[t], (amount * found[t] / total).quantize(MILLIONTH)) for t in sorted(found)]


def why_not(registry: Registry, basis: str, period: str, usage: Mapping[str, Decimal] | None,
            closed: bool) -> str | None:
    """Why a cost on `basis` cannot be apportioned in `period`, as far as can be known now; None if
    it can. Usage in a period still open may yet arrive, so a usage cost there is not judged."""
    if basis == "usage" and not closed:
        return None
    try:
        weights(registry, basis, period, usage)
    except ApportionmentError as exc:
        return str(exc)
    return None


def bases_that_apportion(registry: Registry, period: str, usage: Mapping[str, Decimal] | None) -> list[str]:
    """The bases a cost of `period` could be apportioned on with what is known now."""
    return [basis for basis in BASES if why_not(registry, basis, period, usage, closed=True) is None]
