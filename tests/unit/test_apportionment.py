"""Who bears how much of a shared cost: properties over every basis, period and amount (credits
too), on the registry shipped with the platform and on registries with zero weights."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.finance.ledger.apportionment import (
    ApportionmentError,
    bases_that_apportion,
    next_period,
    shares,
    why_not,
)
from shared.fields import first_day
from shared.tenants import Registry

registry = Registry.load()
BASES = ["staff", "sites", "budget", "fixed", "usage"]
CODES = ["council", "pct", "ccg", "hospital", "police"]

amounts = st.integers(min_value=1, max_value=10**10).map(lambda pence: Decimal(pence).scaleb(-2))
periods = st.builds(lambda y, m: f"{y}-{m:02d}", st.integers(2007, 2030), st.integers(1, 12)).filter(
    lambda p: p >= "2007-04")
usages = st.dictionaries(st.sampled_from(CODES), st.integers(0, 10**9).map(lambda p: Decimal(p).scaleb(-2)))


def partners_in(period: str) -> set[str]:
    """The partnership's history as shipped, written out rather than asked of the registry: the
    council and the hospital throughout, the PCT until March 2013 and then the CCG, the police from
    April 2027."""
    return ({"council", "hospital"} | ({"pct"} if period < "2013-04" else {"ccg"})
            | ({"police"} if period >= "2027-04" else set()))


def users(usage: dict, period: str) -> set[str]:
    return {t for t, u in usage.items() if u > 0 and t in partners_in(period)}


@st.composite
def costs(draw):
    """A cost on any basis in any period; a usage cost comes with usage by at least one partner."""
    basis, period, usage = draw(st.sampled_from(BASES)), draw(periods), draw(usages)
    if basis == "usage" and not users(usage, period):
        usage[draw(st.sampled_from(sorted(partners_in(period))))] = draw(amounts)
    return draw(amounts), basis, period, usage


@given(costs())
def test_shares_sum_exactly_to_the_cost(cost):
    amount, basis, period, usage = cost
    assert sum(s.amount for s in shares(registry, basis, period, amount, usage)) == amount


@given(costs())
def test_every_share_is_whole_pence_within_a_penny_of_its_exact_quota(cost):
    amount, basis, period, usage = cost
    for s in shares(registry, basis, period, amount, usage):
        assert s.amount == s.amount.quantize(Decimal("0.01"))
        assert abs(s.amount - s.exact) < Decimal("0.01")


@given(amounts, st.sampled_from(["staff", "sites", "budget", "fixed"]), periods, usages)
def test_a_cost_is_shared_by_exactly_the_partners_of_its_period(amount, basis, period, usage):
    split = shares(registry, basis, period, amount, usage)  # usage plays no part outside its basis
    assert [s.tenant for s in split] == sorted(partners_in(period))


@given(amounts, periods, usages)
def test_a_usage_cost_goes_only_to_those_who_used_the_service(amount, period, usage):
    if not users(usage, period):
        with pytest.raises(ApportionmentError, match=f"no tenant used the service in {period}"):
            shares(registry, "usage", period, amount, usage)
        return
    split = shares(registry, "usage", period, amount, usage)
    assert [s.tenant for s in split] == sorted(users(usage, period))
    assert all(s.amount >= 0 for s in split)


@pytest.mark.parametrize("usage", [{}, {"council": Decimal(0), "hospital": Decimal("0.00")},
                                   {"police": Decimal("500.00")}])
def test_a_usage_cost_nobody_incurred_cannot_be_apportioned(usage):
    # Nobody, nobody with any usage, or only a partner not yet joined in October 2026.
    with pytest.raises(ApportionmentError, match="no tenant used the service in 2026-10: nothing to apportion"):
        shares(registry, "usage", "2026-10", Decimal("100.00"), usage)


@given(costs(), st.randoms())
def test_the_shares_do_not_depend_on_the_order_usage_is_given_in(cost, rnd):
    amount, basis, period, usage = cost
    items = list(usage.items())
    rnd.shuffle(items)
    assert shares(registry, basis, period, amount, dict(items)) == shares(registry, basis, period, amount, usage)


def test_usage_of_a_tenant_not_active_in_the_period_counts_for_nothing():
    # Usage tagged with the police before they joined is no reason to bill them for October 2026.
    split = shares(registry, "usage", "2026-10", Decimal("100.00"), {"police": Decimal(500), "council": Decimal(50)})
    assert [(s.tenant, s.amount) for s in split] == [("council", Decimal("100.00"))]


def test_usage_shares_follow_the_usage():
    split = shares(registry, "usage", "2026-10", Decimal("100.00"),
                   {"council": Decimal("300.00"), "ccg": Decimal("0.00"), "hospital": Decimal("100.00")})
    assert [(s.tenant, s.amount, s.exact) for s in split] == [("council", Decimal("75.00"), Decimal("75.000000")),
                                                             ("hospital", Decimal("25.00"), Decimal("25.000000"))]


def test_the_pct_then_the_ccg_then_the_police():
    assert {s.tenant for s in shares(registry, "staff", "2013-03", Decimal("1.00"))} == {"council", "pct", "hospital"}
    assert {s.tenant for s in shares(registry, "staff", "2013-04", Decimal("1.00"))} == {"council", "ccg", "hospital"}
    assert {s.tenant for s in shares(registry, "fixed", "2027-04", Decimal("1.00"))} == \
        {"council", "ccg", "hospital", "police"}


def test_fixed_shares_follow_the_agreement_in_force():
    split = {s.tenant: s.amount for s in shares(registry, "fixed", "2026-10", Decimal("10000.00"))}
    assert split == {"ccg": Decimal("2000.00"), "council": Decimal("6000.00"), "hospital": Decimal("2000.00")}


def test_staff_shares_follow_the_head_counts():
    # 3,900 + 120 + 2,300 = 6,320 staff in October 2026.
    split = shares(registry, "staff", "2026-10", Decimal("6320.00"))
    assert [(s.tenant, s.amount) for s in split] == [("ccg", Decimal("120.00")), ("council", Decimal("3900.00")),
                                                     ("hospital", Decimal("2300.00"))]


def test_the_exact_share_shows_the_rounding():
    [ccg, council, hospital] = shares(registry, "fixed", "2026-10", Decimal("0.01"))
    assert (ccg.exact, council.exact, hospital.exact) == (Decimal("0.002"), Decimal("0.006"), Decimal("0.002"))
    assert (ccg.amount, council.amount, hospital.amount) == (Decimal("0.00"), Decimal("0.01"), Decimal("0.00"))


def test_the_exact_share_is_kept_to_a_millionth_of_a_pound():
    [ccg, council, hospital] = shares(registry, "staff", "2026-10", Decimal("1.00"))
    # 120, 3,900 and 2,300 of 6,320 staff.
    assert (ccg.exact, council.exact, hospital.exact) == (Decimal("0.018987"), Decimal("0.617089"),
                                                          Decimal("0.363924"))


@pytest.mark.parametrize("period, following", [("2026-10", "2026-11"), ("2026-12", "2027-01"), ("2099-12", "2100-01"),
                                               ("2026-01", "2026-02"), ("2026-09", "2026-10")])
def test_the_next_period(period, following):
    assert next_period(period) == following
    assert first_day(period) == date.fromisoformat(f"{period}-01")


# Credits, zero weights, and what can be known before a cost is recorded.

credits = amounts.map(lambda amount: -amount)


@given(credits, st.sampled_from(["staff", "sites", "budget", "fixed"]), periods)
def test_a_credit_is_shared_like_a_cost_with_every_share_negated(credit, basis, period):
    as_credit = shares(registry, basis, period, credit)
    as_cost = shares(registry, basis, period, -credit)
    assert sum(s.amount for s in as_credit) == credit
    assert all(s.amount <= 0 for s in as_credit)
    assert [(s.tenant, -s.amount, -s.exact) for s in as_credit] == [(s.tenant, s.amount, s.exact) for s in as_cost]


ZERO_SITES = """
tenants:
  - {code: council, name: Council, valid_from: 2007-04-01, figures: [{from: 2007-04-01, staff: 10, sites: 3, budget: 0}]}
  - {code: hospital, name: Hospital, valid_from: 2007-04-01, figures: [{from: 2007-04-01, staff: 5, sites: 0, budget: 0}]}
agreements:
  - {from: 2007-04-01, shares: {council: 0, hospital: 0}}
"""


@pytest.fixture
def zero_sites(tmp_path) -> Registry:
    (tmp_path / "tenants.yaml").write_text(ZERO_SITES)
    return Registry.load(tmp_path / "tenants.yaml")


def test_a_tenant_with_no_weight_is_left_out_of_the_split(zero_sites):
    split = shares(zero_sites, "sites", "2026-10", Decimal("100.00"))
    assert [(s.tenant, s.amount) for s in split] == [("council", Decimal("100.00"))]


@pytest.mark.parametrize("basis", ["budget", "fixed"])
def test_when_every_tenant_has_no_weight_nothing_can_be_apportioned(zero_sites, basis):
    with pytest.raises(ApportionmentError, match=f"zero weight on {basis}: nothing to apportion by {basis}"):
        shares(zero_sites, basis, "2026-10", Decimal("100.00"))
    assert why_not(zero_sites, basis, "2026-10", None, closed=False).startswith("every tenant active on 2026-10-01")
    assert bases_that_apportion(zero_sites, "2026-10", {"hospital": Decimal(1)}) == ["staff", "sites", "usage"]


def test_a_month_without_tenants_apportions_nothing_on_any_basis():
    assert why_not(registry, "usage", "2005-01", {"council": Decimal(1)}, closed=True) == "no tenant is active on 2005-01-01"
    assert bases_that_apportion(registry, "2005-01", {"council": Decimal(1)}) == []


def test_a_usage_cost_is_judged_only_once_its_period_is_closed():
    assert why_not(registry, "usage", "2026-10", {}, closed=False) is None  # usage may yet come
    assert "no tenant used the service in 2026-10" in why_not(registry, "usage", "2026-10", {}, closed=True)
    assert why_not(registry, "usage", "2026-10", {"council": Decimal("1.00")}, closed=True) is None
    assert bases_that_apportion(registry, "2026-10", {}) == ["staff", "sites", "budget", "fixed"]


def test_a_fixed_cost_needs_an_agreement_covering_the_tenants_of_its_month(tmp_path):
    (tmp_path / "tenants.yaml").write_text(ZERO_SITES.replace("{from: 2007-04-01, shares: {council: 0, hospital: 0}}",
                                                              "{from: 2020-01-01, shares: {council: 100}}"))
    uncovered = Registry.load(tmp_path / "tenants.yaml")
    assert "does not cover exactly the active tenants" in why_not(uncovered, "fixed", "2026-10", None, closed=False)
    assert "no agreed percentages in force on 2019-10-01" in why_not(uncovered, "fixed", "2019-10", None, closed=False)
    assert why_not(uncovered, "staff", "2019-10", None, closed=False) is None
