from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.money import MoneyError, apportion, money

amounts = st.integers(min_value=-10**11, max_value=10**11).map(lambda pence: Decimal(pence).scaleb(-2))
weights = st.dictionaries(
    st.sampled_from(["council", "pct", "ccg", "hospital", "police"]),
    st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False),
    min_size=1,
).filter(lambda w: sum(w.values()) > 0)


@given(amounts, weights)
def test_shares_sum_exactly_to_the_amount(amount, weights):
    assert sum(apportion(amount, weights).values()) == amount


@given(amounts.filter(lambda a: a >= 0), weights)
def test_shares_are_never_negative(amount, weights):
    assert all(share >= 0 for share in apportion(amount, weights).values())


@given(amounts, weights)
def test_shares_follow_the_weights_within_a_penny(amount, weights):
    total = sum(weights.values())
    for key, share in apportion(amount, weights).items():
        assert abs(share - amount * weights[key] / total) < Decimal("0.01")


@given(amounts, weights)
def test_shares_are_whole_pence(amount, weights):
    assert all(share == share.quantize(Decimal("0.01")) for share in apportion(amount, weights).values())


def test_ties_go_to_the_first_code_every_time():
    assert apportion(Decimal("0.02"), {"pct": 1, "council": 1, "hospital": 1}) == {
        "council": Decimal("0.01"), "hospital": Decimal("0.01"), "pct": Decimal("0.00")}


def test_a_hundred_pounds_in_three():
    shares = apportion(Decimal("100.00"), {"council": 1, "hospital": 1, "ccg": 1})
    assert shares == {"ccg": Decimal("33.34"), "council": Decimal("33.33"), "hospital": Decimal("33.33")}


@pytest.mark.parametrize("bad, why", [
    (1.5, "money must be given as a string, int or Decimal, never a float"),
    (True, "money must be given as a string, int or Decimal, never a float"),
    ("12.345", "12.345 has a fraction of a penny"),
    ("abc", "not an amount of money: 'abc'"), ("NaN", "not an amount of money: 'NaN'"),
    ("Infinity", "not an amount of money: 'Infinity'"), (None, "not an amount of money: None"),
])
def test_money_refuses_what_is_not_pence_and_says_why(bad, why):
    with pytest.raises(MoneyError) as refused:
        money(bad)
    assert str(refused.value) == why


@pytest.mark.parametrize("weights, why", [
    ({}, "cannot apportion among no one"),
    ({"council": 0}, "apportionment weights sum to zero"),
    ({"council": -1, "pct": 2}, "apportionment weights cannot be negative"),
])
def test_apportion_refuses_meaningless_weights_and_says_why(weights, why):
    with pytest.raises(MoneyError) as refused:
        apportion(Decimal("10.00"), weights)
    assert str(refused.value) == why


def test_the_penny_left_over_goes_to_the_largest_remainder_not_the_largest_share():
    # 9p by 51:39 is 5.1p and 3.9p: the council's share is larger, the hospital's remainder is.
    assert apportion(Decimal("0.09"), {"council": 51, "hospital": 39}) == {
        "council": Decimal("0.05"), "hospital": Decimal("0.04")}


def test_a_negative_amount_splits_like_a_positive_one_with_the_sign():
    assert apportion(Decimal("-0.09"), {"council": 51, "hospital": 39}) == {
        "council": Decimal("-0.05"), "hospital": Decimal("-0.04")}
