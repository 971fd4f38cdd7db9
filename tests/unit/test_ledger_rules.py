"""The ledger's posting rules as plain code: corrections that keep the unit price, the statement an
entry lands on and who answers for it there, and how a statement sorts and labels its lines."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.finance.ledger.entries import (
    CorrectionError,
    Unpostable,
    billed,
    check_period,
    corrected,
    pair,
    shown_on,
)
from services.finance.ledger.statements import build
from shared.tenants import Registry

registry = Registry.load()
NAMES = {code: tenant.name for code, tenant in registry.tenants.items()}
prices = st.integers(1, 10**6).map(lambda p: Decimal(p).scaleb(-2))
quantities = st.integers(1, 10**4).map(lambda q: Decimal(q).scaleb(-2))


# Corrections keep the unit price where that is exact.

def test_a_new_quantity_alone_is_charged_at_the_unit_price():
    assert corrected(Decimal("850.00"), Decimal("2"), None, Decimal("1")) == \
        (Decimal("1"), Decimal("850.00"), Decimal("850.00"), False)
    assert corrected(Decimal("55.00"), Decimal("3"), None, Decimal("1.25")) == \
        (Decimal("1.25"), Decimal("55.00"), Decimal("68.75"), False)


def test_a_quantity_that_makes_fractions_of_a_penny_asks_for_the_amount():
    with pytest.raises(CorrectionError, match="not a whole number of pence") as refused:
        corrected(Decimal("33.33"), Decimal("1"), None, Decimal("1.5"))
    assert refused.value.field == "amount"


def test_a_new_amount_that_divides_into_whole_pence_is_the_new_unit_price():
    assert corrected(Decimal("850.00"), Decimal("2"), Decimal("1600.00"), None) == \
        (Decimal("2"), Decimal("800.00"), Decimal("1600.00"), False)


def test_a_new_amount_that_does_not_keeps_the_unit_price_and_is_set_by_hand():
    assert corrected(Decimal("55.00"), Decimal("3"), Decimal("100.00"), None) == \
        (Decimal("3"), Decimal("55.00"), Decimal("100.00"), True)
    assert corrected(Decimal("55.00"), Decimal("3"), Decimal("100.00"), Decimal("2")) == \
        (Decimal("2"), Decimal("50.00"), Decimal("100.00"), False)


def test_a_quantity_that_makes_more_than_any_amount_is_refused():
    with pytest.raises(CorrectionError, match="is more than £100000000.00") as refused:
        corrected(Decimal("1000000.00"), Decimal("1"), None, Decimal("1000"))
    assert refused.value.field == "quantity"


def test_a_correction_needs_an_amount_or_a_quantity():
    with pytest.raises(CorrectionError, match="give the corrected amount, the corrected quantity, or both"):
        corrected(Decimal("1.00"), Decimal("1"), None, None)


@given(prices, quantities, st.one_of(st.none(), prices), st.one_of(st.none(), quantities))
def test_a_correction_is_always_exact_or_says_it_was_set_by_hand(unit, quantity, new_amount, new_quantity):
    try:
        q, price, amount, by_hand = corrected(unit, quantity, new_amount, new_quantity)
    except CorrectionError:
        assert new_amount is None
        return
    assert amount == amount.quantize(Decimal("0.01")) and price == price.quantize(Decimal("0.01"))
    assert q == (new_quantity or quantity)
    assert by_hand == (price * q != amount)
    if by_hand:
        assert price == unit  # kept, never a rounded one
    if new_amount is None:
        assert price == unit


# Where an entry lands, and who answers for it there.

def test_an_entry_lands_on_its_own_period_or_the_next_open_one():
    assert shown_on("2026-10", set()) == "2026-10"
    assert shown_on("2026-10", {"2026-10", "2026-11", "2027-01"}) == "2026-12"
    assert shown_on("2026-12", {"2026-12"}) == "2027-01"


def test_a_successor_answers_for_an_entry_landing_after_its_predecessor_ended():
    assert billed(registry, "pct", "2013-03", "2013-03", "charge x") == "pct"
    assert billed(registry, "pct", "2013-03", "2013-04", "charge x") == "ccg"
    assert billed(registry, "council", "2013-03", "2013-04", "charge x") == "council"
    with pytest.raises(Unpostable, match="charge x: police is not a tenant until 2027-04-01") as refused:
        billed(registry, "police", "2026-10", "2026-10", "charge x")
    assert refused.value.code == "not_billable"


def test_a_shared_cost_needs_partners_in_its_month():
    check_period(registry, "2007-04")
    with pytest.raises(Unpostable, match="period: no partner was a tenant of the shared service on 2007-03-01"):
        check_period(registry, "2007-03")


# A statement's sections and what its lines say.

def row(source: str, amount: str, original_period: str = "2026-10", tenant: str = "ccg", for_tenant: str = "ccg",
        **extra) -> dict:
    [receivable, _] = pair(event_id="e", source=source, source_id="s", tenant=tenant, for_tenant=for_tenant,
                           service="it", amount=Decimal(amount), period="2026-10", original_period=original_period,
                           basis=extra.get("basis"), exact_share=extra.get("exact_share"))
    charge = {"charge_id": "s", "request_id": None, "request_type": "incident", "kind": extra.get("kind", "request"),
              "cost_centre": "CC-1", "charge_description": "work", "quantity": Decimal("1"),
              "unit_price": Decimal(amount), "amount_set_by_hand": extra.get("by_hand", False)}
    cost = {"cost_id": "s", "cost_description": "network", "cost_total": Decimal(extra.get("cost_total", "0")),
            "cost_reason": extra.get("reason"), "replaces": None}
    dispute = {"disputed_statement": "HPS-202609-00001", "disputed_line": "line", "disputed_description": "network",
               "credit_reason": "Agreed: the link was down for a week"}
    if source in ("credit_note", "reapportioned"):
        return {**receivable, **dispute}
    return {**receivable, **(cost if source in ("shared_cost", "withdrawal") else charge)}


def test_sections_follow_the_period_an_entry_belongs_to():
    statement = build([row("charge", "100.00"), row("reversal", "-100.00"),
                       row("charge", "90.00", kind="correction", by_hand=True),
                       row("charge", "5.00", original_period="2026-09"),
                       row("shared_cost", "-20.00", cost_total="-60.00", basis="staff", exact_share=Decimal("-20"),
                           reason="Refund"),
                       row("withdrawal", "-7.00", original_period="2026-08", cost_total="21.00", basis="sites",
                           exact_share=Decimal("-7")),
                       row("credit_note", "-12.00", original_period="2026-09"),
                       row("reapportioned", "3.34", original_period="2026-09", basis="shares",
                           exact_share=Decimal("3.333333"))], "ccg", "CCG", "2026-10", NAMES)
    assert statement["totals"] == {"direct_charges": "100.00", "shared_costs": "-20.00", "corrections": "-10.00",
                                   "prior_period_adjustments": "-2.00", "credit_notes": "-8.66", "total": "59.34"}
    note, back = statement["credit_notes"]
    assert (note["type"], note["amount"], note["disputed_statement"], note["disputed_line"], note["reason"]) == \
        ("credit_note", "-12.00", "HPS-202609-00001", "line", "Agreed: the link was down for a week")
    assert (back["type"], back["amount"], back["exact_share"], back["rounding"], back["cost_id"]) == \
        ("reapportioned", "3.34", "3.333333", "0.006667", "line")
    assert [(x["type"], x["amount"]) for x in statement["corrections"]] == [("reversal", "-100.00"),
                                                                            ("charge", "90.00")]
    assert statement["corrections"][1]["note"] == "amount set by hand"
    assert [(x["type"], x["amount"]) for x in statement["prior_period_adjustments"]] == [("charge", "5.00"),
                                                                                         ("withdrawal", "-7.00")]
    [credit] = statement["shared_costs"]
    assert (credit["credit"], credit["reason"], credit["note"]) == (True, "Refund", "credit: Refund")


def test_a_line_billed_to_a_successor_says_whom_it_was_for():
    statement = build([row("charge", "45.00", original_period="2013-03", for_tenant="pct")], "ccg", "CCG",
                      "2013-04", NAMES)
    [line] = statement["prior_period_adjustments"]
    assert line["on_behalf_of"] == "pct"
    assert line["note"] == "for NHS Herefordshire (Primary Care Trust) (pct), billed to its successor"
