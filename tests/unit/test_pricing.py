"""The catalogues' price models: fixed, time and materials rounded half up, fee on value with a
floor and a cap."""

from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.catalogue import FeeOnValue, TimeAndMaterials, load_all
from shared.contracts import Measures

TENDER = load_all()["procurement"].type("tender").price  # 1.5% of the value, at least £500, at most £25,000
values = st.integers(min_value=1, max_value=10**11).map(lambda pence: Decimal(pence).scaleb(-2))


def fee(value: str) -> Decimal:
    return TENDER.price(Measures(value=Decimal(value)))[2]


@pytest.mark.parametrize("value, expected", [
    ("100.00", "500.00"),          # 1.50 is below the floor
    ("33333.33", "500.00"),        # 499.99995 rounds to 500.00: the floor
    ("40000.00", "600.00"),        # 1.5%
    ("1666666.67", "25000.00"),    # 25,000.00005 rounds to the cap
    ("1666700.00", "25000.00"),    # 25,000.50 is above the cap
    ("80000.00", "1200.00"),
    ("39999.99", "600.00"),        # 599.99985 half up
])
def test_the_tender_fee_is_one_and_a_half_percent_between_its_floor_and_cap(value, expected):
    assert fee(value) == Decimal(expected)


@given(values)
def test_a_fee_never_falls_below_the_floor_or_rises_above_the_cap(value):
    assert TENDER.floor <= TENDER.price(Measures(value=value))[2] <= TENDER.cap


@given(values, values)
def test_a_larger_order_never_pays_a_smaller_fee(a, b):
    low, high = sorted((a, b))
    assert TENDER.price(Measures(value=low))[2] <= TENDER.price(Measures(value=high))[2]


@given(values)
def test_a_fee_between_floor_and_cap_is_the_rate_rounded_half_up_to_the_penny(value):
    exact = value * TENDER.rate_percent / 100
    charged = TENDER.price(Measures(value=value))[2]
    if TENDER.floor < charged < TENDER.cap:
        assert abs(charged - exact) <= Decimal("0.005")
        assert charged == charged.quantize(Decimal("0.01"))


def test_time_and_materials_round_half_a_penny_up():
    # 24.69 × 0.5 = 12.345: half up gives 12.35, where half-even and truncation give 12.34.
    advice = TimeAndMaterials(model="time_and_materials", hourly_rate=Decimal("24.69"))
    quantity, rate, amount = advice.price(Measures(hours=Decimal("0.5")))
    assert (quantity, rate, amount) == (Decimal("0.5"), Decimal("24.69"), Decimal("12.35"))
    assert Decimal("12.345").quantize(Decimal("0.01"), ROUND_HALF_EVEN) != amount


@given(st.integers(min_value=1, max_value=10**6), st.integers(min_value=1, max_value=10**6))
def test_time_and_materials_are_within_half_a_penny_of_rate_times_hours(rate_pence, hundredths):
    rate, hours = Decimal(rate_pence).scaleb(-2), Decimal(hundredths).scaleb(-2)
    amount = TimeAndMaterials(model="time_and_materials", hourly_rate=rate).price(Measures(hours=hours))[2]
    exact = rate * hours
    assert amount == amount.quantize(Decimal("0.01"))
    assert -Decimal("0.005") < amount - exact <= Decimal("0.005")  # a half penny always rounds up


def test_a_fixed_price_is_unit_price_times_quantity():
    laptop = load_all()["it"].type("laptop-provision").price
    assert laptop.price(Measures(quantity=3)) == (Decimal(3), Decimal("850.00"), Decimal("2550.00"))


def test_a_fee_model_refuses_a_rate_above_a_hundred_percent():
    with pytest.raises(ValueError):
        FeeOnValue(model="fee_on_value", rate_percent=Decimal("101"), floor=Decimal("0.00"), cap=Decimal("1.00"))
