"""Money in pence: parsing refuses what is not a whole number of pence, computed amounts round half
up, and apportionment splits to the penny."""

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.money import MoneyError, apportion, money, round_pence

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


@given(st.integers(min_value=-10**13, max_value=10**13))
def test_money_takes_any_whole_number_of_pence_as_a_string_or_a_decimal(pence):
    amount = Decimal(pence).scaleb(-2)
    assert money(str(amount)) == money(amount) == amount
    assert str(money(amount)) == f"{amount:.2f}"  # always two places, so it prints as pounds and pence


@given(st.integers(min_value=-10**11, max_value=10**11))
def test_an_int_is_whole_pounds(whole_pounds):
    assert str(money(whole_pounds)) == f"{whole_pounds}.00"


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_money_refuses_every_float_even_a_round_one(value):
    with pytest.raises(MoneyError, match="never a float"):
        money(value)


@given(st.integers(min_value=-10**13, max_value=10**13), st.integers(min_value=1, max_value=9),
       st.integers(min_value=3, max_value=8))
def test_money_refuses_any_fraction_of_a_penny(pence, digit, places):
    # A non-zero digit at the third decimal place or beyond: 1.234, -0.0000005 and so on.
    amount = Decimal(pence).scaleb(-2) + (1 if pence >= 0 else -1) * Decimal(digit).scaleb(-places)
    with pytest.raises(MoneyError, match="has a fraction of a penny"):
        money(str(amount))


def test_money_takes_trailing_zeros_beyond_the_penny():
    assert money("12.3400") == Decimal("12.34") and str(money("12.3400")) == "12.34"


@pytest.mark.parametrize("computed, charged", [
    ("12.345", "12.35"),   # half a penny over an even penny: half-even would give 12.34
    ("0.125", "0.13"),
    ("12.335", "12.34"),
    ("12.3449999", "12.34"),
    ("12.3450001", "12.35"),
    ("-0.125", "-0.13"),   # a credit rounds away from zero too, so it mirrors the charge
    ("7", "7.00"),
])
def test_round_pence_rounds_half_a_penny_up(computed, charged):
    assert str(round_pence(Decimal(computed))) == charged


@given(st.integers(min_value=-10**15, max_value=10**15))
def test_round_pence_is_the_nearest_penny_and_a_half_goes_away_from_zero(thousandths_of_a_penny):
    exact = Decimal(thousandths_of_a_penny).scaleb(-5)
    rounded = round_pence(exact)
    assert rounded == rounded.quantize(Decimal("0.01"))
    gap = abs(rounded) - abs(exact)  # how far away from zero the rounding moved it
    assert -Decimal("0.005") < gap <= Decimal("0.005")
    assert rounded == 0 or (rounded < 0) == (exact < 0)  # never turns a charge into a credit


# Small weights make ties, the case where the order of the keys could decide who gets a penny.
tied_weights = st.dictionaries(st.sampled_from(["council", "pct", "ccg", "hospital", "police"]),
                               st.integers(0, 3), min_size=1).filter(lambda w: sum(w.values()) > 0)


@given(amounts, st.one_of(weights, tied_weights), st.randoms())
def test_the_split_is_the_same_whatever_the_order_of_the_weights(amount, weights, rnd):
    items = list(weights.items())
    rnd.shuffle(items)
    assert apportion(amount, dict(items)) == apportion(amount, weights)


@given(amounts, st.one_of(weights, tied_weights))
def test_a_zero_weight_gets_a_zero_share(amount, weights):
    split = apportion(amount, weights)
    assert set(split) == set(weights)
    assert all(split[key] == 0 for key, weight in weights.items() if weight == 0)


@given(st.integers(min_value=0, max_value=10**9), tied_weights)
def test_largest_remainder_gives_each_the_floor_of_its_quota_and_the_rest_one_by_one(pence, weights):
    split = apportion(Decimal(pence).scaleb(-2), weights)
    total = sum(weights.values())
    quotas = {key: Fraction(pence * weight, total) for key, weight in weights.items()}
    extra = {key: int(split[key] * 100) - int(quotas[key]) for key in weights}  # int() floors a Fraction >= 0
    assert set(extra.values()) <= {0, 1}
    # Who got a penny more had a larger remainder, or an equal one and a code that sorts first.
    for winner in (k for k in extra if extra[k]):
        for loser in (k for k in extra if not extra[k]):
            assert (-(quotas[winner] % 1), winner) < (-(quotas[loser] % 1), loser)
