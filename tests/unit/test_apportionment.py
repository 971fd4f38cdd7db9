"""Who bears how much of a shared cost: properties over every basis, period and amount."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.finance.ledger.apportionment import ApportionmentError, first_day, next_period, shares
from shared.money import apportion
from shared.tenants import Registry

registry = Registry.load()
BASES = ["staff", "sites", "budget", "fixed", "usage"]
CODES = ["council", "pct", "ccg", "hospital", "police"]

amounts = st.integers(min_value=1, max_value=10**10).map(lambda pence: Decimal(pence).scaleb(-2))
periods = st.builds(lambda y, m: f"{y}-{m:02d}", st.integers(2007, 2030), st.integers(1, 12)).filter(
    lambda p: p >= "2007-04")
usages = st.dictionaries(st.sampled_from(CODES), st.integers(0, 10**9).map(lambda p: Decimal(p).scaleb(-2)))
weights = st.dictionaries(st.sampled_from(CODES), st.integers(0, 10**6), min_size=1).filter(
    lambda w: sum(w.values()) > 0)


def active(period: str) -> set[str]:
    return {t.code for t in registry.active(first_day(period))}


@given(amounts, st.sampled_from(BASES), periods, usages)
def test_shares_sum_to_the_cost_among_the_tenants_of_the_period(amount, basis, period, usage):
    usage = {t: u for t, u in usage.items() if t in active(period) and u > 0} or {min(active(period)): Decimal(1)}
    split = shares(registry, basis, period, amount, usage)
    assert sum(s.amount for s in split) == amount
    assert {s.tenant for s in split} <= active(period)
    if basis != "usage":
        assert {s.tenant for s in split} == active(period)
    for s in split:  # the rounding is less than a penny
        assert abs(s.amount - s.exact) < Decimal("0.01")


@given(amounts, periods, usages)
def test_a_usage_cost_goes_only_to_those_who_used_the_service(amount, period, usage):
    users = {t for t, u in usage.items() if u > 0 and t in active(period)}
    if not users:
        with pytest.raises(ApportionmentError, match="nothing to apportion by usage"):
            shares(registry, "usage", period, amount, usage)
        return
    assert {s.tenant for s in shares(registry, "usage", period, amount, usage)} == users


@given(amounts, weights, st.randoms())
def test_the_split_does_not_depend_on_the_order_of_the_weights(amount, weights, rnd):
    items = list(weights.items())
    rnd.shuffle(items)
    assert apportion(amount, dict(items)) == apportion(amount, weights)


@given(amounts, weights)
def test_a_zero_weight_gets_nothing(amount, weights):
    split = apportion(amount, weights)
    assert all(split[t] == 0 for t, w in weights.items() if w == 0)


def test_usage_of_a_tenant_not_active_in_the_period_counts_for_nothing():
    # Usage tagged with the police before they joined is no reason to bill them for October 2026.
    split = shares(registry, "usage", "2026-10", Decimal("100.00"), {"police": Decimal(500), "council": Decimal(50)})
    assert [(s.tenant, s.amount) for s in split] == [("council", Decimal("100.00"))]


def test_the_pct_then_the_ccg_then_the_police():
    assert {s.tenant for s in shares(registry, "staff", "2013-03", Decimal("1.00"))} == {"council", "pct", "hospital"}
    assert {s.tenant for s in shares(registry, "staff", "2013-04", Decimal("1.00"))} == {"council", "ccg", "hospital"}
    assert {s.tenant for s in shares(registry, "fixed", "2027-04", Decimal("1.00"))} == \
        {"council", "ccg", "hospital", "police"}


def test_fixed_shares_follow_the_agreement_in_force():
    split = {s.tenant: s.amount for s in shares(registry, "fixed", "2026-10", Decimal("10000.00"))}
    assert split == {"ccg": Decimal("2000.00"), "council": Decimal("6000.00"), "hospital": Decimal("2000.00")}


def test_the_exact_share_shows_the_rounding():
    [ccg, council, hospital] = shares(registry, "fixed", "2026-10", Decimal("0.01"))
    assert (ccg.exact, council.exact, hospital.exact) == (Decimal("0.002"), Decimal("0.006"), Decimal("0.002"))
    assert (ccg.amount, council.amount, hospital.amount) == (Decimal("0.00"), Decimal("0.01"), Decimal("0.00"))


@pytest.mark.parametrize("period, following", [("2026-10", "2026-11"), ("2026-12", "2027-01"), ("2099-12", "2100-01")])
def test_the_next_period(period, following):
    assert next_period(period) == following
    assert first_day(period) == date.fromisoformat(f"{period}-01")
