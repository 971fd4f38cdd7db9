"""Money as `Decimal` pounds quantised to the penny, and penny-exact apportionment."""

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction

PENNY = Decimal("0.01")


class MoneyError(ValueError):
    pass


def money(value: Decimal | int | str) -> Decimal:
    """Parse an amount in pounds; refuses floats and fractions of a penny."""
    if isinstance(value, float) or isinstance(value, bool):
        raise MoneyError("money must be given as a string, int or Decimal, never a float")
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError):
        raise MoneyError(f"not an amount of money: {value!r}") from None
    if not amount.is_finite():
        raise MoneyError(f"not an amount of money: {value!r}")
    if amount != amount.quantize(PENNY):
        raise MoneyError(f"{value} has a fraction of a penny")
    return amount.quantize(PENNY)


def round_pence(amount: Decimal) -> Decimal:
    """Round a computed amount (rate × hours, a percentage fee) to the penny, half up."""
    return amount.quantize(PENNY, rounding=ROUND_HALF_UP)


def apportion(amount: Decimal, weights: Mapping[str, Decimal | int]) -> dict[str, Decimal]:
    """Split `amount` by `weights` into whole pence that sum to it exactly."""
    amount = money(amount)
    sign = -1 if amount < 0 else 1
    pence = largest_remainder(int(abs(amount) * 100), weights)
    return {key: Decimal(sign * share).scaleb(-2) for key, share in pence.items()}


def largest_remainder(units: int, weights: Mapping[str, Decimal | int]) -> dict[str, int]:
    """Split `units` whole units by `weights`, summing exactly.

    Each party gets the floor of its exact quota, and the units left over go one each to the
    largest fractional remainders; ties go to the key that sorts first, so the split is the
    same on every run.
    """
    if not weights:
        raise MoneyError("cannot apportion among no one")
    if any(Decimal(w) < 0 for w in weights.values()):
        raise MoneyError("apportionment weights cannot be negative")
    total_weight = sum(Fraction(Decimal(w)) for w in weights.values())
    if total_weight == 0:
        raise MoneyError("apportionment weights sum to zero")
    quotas = {key: units * Fraction(Decimal(w)) / total_weight for key, w in weights.items()}
    shares = {key: int(q) for key, q in quotas.items()}  # int() floors a non-negative Fraction
    left = units - sum(shares.values())
    by_remainder = sorted(quotas, key=lambda key: (-(quotas[key] - shares[key]), key))
    for key in by_remainder[:left]:
        shares[key] += 1
    return shares
