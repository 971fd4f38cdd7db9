"""The catalogues' price models: fixed, time and materials rounded half up, fee on value with a
floor and a cap."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.catalogue import FeeOnValue, Fixed, TimeAndMaterials, load_all
from shared.contracts import Measures

PENNY, HALF_PENNY = Decimal("0.01"), Decimal("0.005")
procurement = load_all()["procurement"]
TENDER = procurement.type("tender").price  # 1.5% of the value, at least £500, at most £25,000
FEES = {code: procurement.type(code).price for code in ("tender", "purchase-order")}


def pounds(pence: int) -> Decimal:
    return Decimal(pence).scaleb(-2)


def fee(model: FeeOnValue, value: Decimal) -> Decimal:
    quantity, unit_price, amount = model.price(Measures(value=value))
    assert (quantity, unit_price) == (1, amount)  # a fee is one line of its own amount
    return amount


def values_around(model: FeeOnValue) -> st.SearchStrategy[Decimal]:
    """Order values from a penny to £1bn, drawn often near and between the floor and the cap, where
    a uniform draw over the whole range would hardly ever land."""
    floor_at = int(model.floor * 100 * 100 / model.rate_percent)  # the value, in pence, whose fee is the floor
    cap_at = int(model.cap * 100 * 100 / model.rate_percent)
    return st.one_of(
        st.integers(1, 10**11),
        st.integers(max(1, floor_at - 1000), floor_at + 1000),
        st.integers(floor_at, cap_at),
        st.integers(cap_at - 1000, cap_at + 1000),
    ).map(pounds)


@pytest.mark.parametrize("value, expected", [
    ("100.00", "500.00"),          # 1.50 is below the floor
    ("33333.33", "500.00"),        # 499.99995 rounds up to the floor
    ("33333.34", "500.00"),        # 500.0001
    ("33333.67", "500.01"),        # 500.00505: just above the floor, half up
    ("40000.00", "600.00"),        # 1.5%
    ("40003.00", "600.05"),        # 600.045: half up; half-even and truncation give 600.04
    ("39999.99", "600.00"),        # 599.99985 half up
    ("80000.00", "1200.00"),
    ("1666666.00", "24999.99"),    # just below the cap
    ("1666666.67", "25000.00"),    # 25,000.00005 rounds to the cap
    ("1666700.00", "25000.00"),    # 25,000.50 is above the cap
    ("1000000000.00", "25000.00"),
])
def test_the_tender_fee_is_one_and_a_half_percent_between_its_floor_and_cap(value, expected):
    assert fee(TENDER, Decimal(value)) == Decimal(expected)


@pytest.mark.parametrize("code", FEES)
@given(data=st.data())
def test_a_fee_never_falls_below_the_floor_or_rises_above_the_cap(code, data):
    model = FEES[code]
    assert model.floor <= fee(model, data.draw(values_around(model))) <= model.cap


@pytest.mark.parametrize("code", FEES)
@given(data=st.data())
def test_a_larger_order_never_pays_a_smaller_fee(code, data):
    model = FEES[code]
    low, high = sorted((data.draw(values_around(model)), data.draw(values_around(model))))
    assert fee(model, low) <= fee(model, high)


@pytest.mark.parametrize("code", FEES)
@given(data=st.data())
def test_a_fee_is_the_floor_the_cap_or_the_rate_rounded_half_up_to_the_penny(code, data):
    model = FEES[code]
    value = data.draw(values_around(model))
    exact, charged = value * model.rate_percent / 100, fee(model, value)
    if exact < model.floor - HALF_PENNY:
        assert charged == model.floor
    elif exact >= model.cap + HALF_PENNY:
        assert charged == model.cap
    else:  # whole pence, and a half penny goes up: exactly what rounding half up gives
        assert charged == charged.quantize(PENNY)
        assert -HALF_PENNY < charged - exact <= HALF_PENNY


@given(st.integers(min_value=8_334, max_value=416_665).map(lambda k: pounds(400 * k + 300)))
def test_a_tender_fee_of_exactly_half_a_penny_over_an_even_penny_goes_up(value):
    # 1.5% of 400k + 300 pence is 6k + 4.5 pence: half-even would keep the even penny, truncation too.
    exact = value * TENDER.rate_percent / 100
    assert exact % PENNY == HALF_PENNY and (exact - HALF_PENNY) / PENNY % 2 == 0
    assert fee(TENDER, value) == exact + HALF_PENNY


def test_time_and_materials_round_half_a_penny_up():
    # 24.69 × 0.5 = 12.345: half up gives 12.35, where half-even and truncation give 12.34.
    advice = TimeAndMaterials(model="time_and_materials", hourly_rate=Decimal("24.69"))
    assert advice.price(Measures(hours=Decimal("0.5"))) == (Decimal("0.5"), Decimal("24.69"), Decimal("12.35"))


@given(st.integers(min_value=0, max_value=10**6))
def test_half_an_hour_at_an_odd_penny_rate_rounds_up(k):
    # An odd number of pence an hour makes half an hour end in exactly half a penny.
    rate = pounds(2 * k + 1)
    model = TimeAndMaterials(model="time_and_materials", hourly_rate=rate)
    assert model.price(Measures(hours=Decimal("0.50")))[2] == pounds(k + 1)


@given(st.integers(min_value=1, max_value=10**6), st.integers(min_value=1, max_value=10**6))
def test_time_and_materials_are_within_half_a_penny_of_rate_times_hours(rate_pence, hundredths):
    rate, hours = pounds(rate_pence), pounds(hundredths)
    quantity, unit_price, amount = TimeAndMaterials(model="time_and_materials", hourly_rate=rate).price(
        Measures(hours=hours))
    assert (quantity, unit_price) == (hours, rate)
    assert amount == amount.quantize(PENNY)
    assert -HALF_PENNY < amount - rate * hours <= HALF_PENNY  # a half penny always rounds up


def test_a_fixed_price_is_unit_price_times_quantity():
    laptop = load_all()["it"].type("laptop-provision").price
    assert laptop.price(Measures(quantity=3)) == (Decimal(3), Decimal("850.00"), Decimal("2550.00"))


@given(st.integers(min_value=1, max_value=10**7), st.integers(min_value=1, max_value=10_000))
def test_a_fixed_price_is_exact_for_any_unit_price_and_quantity(unit_pence, quantity):
    model = Fixed(model="fixed", unit_price=pounds(unit_pence))
    assert model.price(Measures(quantity=quantity)) == (Decimal(quantity), pounds(unit_pence),
                                                        pounds(unit_pence * quantity))


def fee_model(rate="1.5", floor="500.00", cap="25000.00") -> FeeOnValue:
    return FeeOnValue(model="fee_on_value", rate_percent=Decimal(rate), floor=Decimal(floor), cap=Decimal(cap))


@pytest.mark.parametrize("price", [
    lambda: fee_model(rate="100"), lambda: fee_model(floor="0.00"), lambda: fee_model(rate="0.01", cap="0.01"),
    lambda: Fixed(model="fixed", unit_price=Decimal("0.01")),
    lambda: TimeAndMaterials(model="time_and_materials", hourly_rate=Decimal("0.01")),
])
def test_a_catalogue_may_price_at_the_limits(price):
    price()


@pytest.mark.parametrize("price, field", [
    (lambda: fee_model(rate="100.01"), "rate_percent"), (lambda: fee_model(rate="0"), "rate_percent"),
    (lambda: fee_model(floor="-0.01"), "floor"), (lambda: fee_model(floor="500.001"), "floor"),
    (lambda: fee_model(cap="0.00"), "cap"), (lambda: fee_model(cap="25000.005"), "cap"),
    (lambda: Fixed(model="fixed", unit_price=Decimal("0.00")), "unit_price"),
    (lambda: Fixed(model="fixed", unit_price=Decimal("850.001")), "unit_price"),
    (lambda: TimeAndMaterials(model="time_and_materials", hourly_rate=Decimal("0.00")), "hourly_rate"),
    (lambda: TimeAndMaterials(model="time_and_materials", hourly_rate=Decimal("24.691")), "hourly_rate"),
])
def test_a_catalogue_cannot_price_below_nothing_in_fractions_of_a_penny_or_above_all_of_it(price, field):
    with pytest.raises(ValidationError) as refused:
        price()
    assert [e["loc"] for e in refused.value.errors()] == [(field,)]
