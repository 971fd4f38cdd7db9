from datetime import date
from decimal import Decimal

import pytest

from shared.tenants import Basis, Registry, RegistryError

registry = Registry.load()


def codes(day: date) -> set[str]:
    return {t.code for t in registry.active(day)}


def test_the_pct_is_a_tenant_until_the_end_of_march_2013():
    assert "pct" in codes(date(2013, 3, 31))
    assert "pct" not in codes(date(2013, 4, 1))


def test_the_ccg_succeeds_the_pct_from_april_2013():
    assert "ccg" not in codes(date(2013, 3, 31))
    assert "ccg" in codes(date(2013, 4, 1))
    assert registry.accountable("pct", date(2013, 4, 1)).code == "ccg"
    assert registry.accountable("pct", date(2013, 3, 31)).code == "pct"


def test_the_police_join_later():
    assert codes(date(2026, 10, 15)) == {"council", "ccg", "hospital"}
    assert codes(date(2027, 4, 1)) == {"council", "ccg", "hospital", "police"}
    with pytest.raises(RegistryError, match="not a tenant until 2027-04-01"):
        registry.accountable("police", date(2026, 10, 1))


def test_staff_shares_come_from_the_published_figures():
    assert registry.weights(Basis.STAFF, date(2010, 6, 1)) == {
        "council": Decimal(3900), "pct": Decimal(1400), "hospital": Decimal(2300)}
    assert registry.share("council", Basis.SITES, date(2010, 6, 1)) == Decimal(70) / Decimal(104)


def test_police_onboarding_changes_every_share():
    before, after = date(2027, 3, 31), date(2027, 4, 1)
    for basis in Basis:
        assert registry.share("council", basis, after) < registry.share("council", basis, before)
        assert sum(registry.share(t.code, basis, after) for t in registry.active(after)) == 1


def test_fixed_percentages_follow_the_agreement_in_force():
    assert registry.weights(Basis.FIXED, date(2012, 1, 1)) == {
        "council": Decimal(55), "pct": Decimal(30), "hospital": Decimal(15)}
    assert registry.share("ccg", Basis.FIXED, date(2026, 10, 1)) == Decimal("0.2")


def test_a_registry_file_replaces_the_defaults_without_code(tmp_path):
    path = tmp_path / "tenants.yaml"
    path.write_text("""
tenants:
  - {code: council, name: Council, valid_from: 2020-01-01, figures: [{from: 2020-01-01, staff: 10, sites: 1, budget: 5}]}
  - {code: police, name: Police, valid_from: 2026-11-01, figures: [{from: 2026-11-01, staff: 30, sites: 1, budget: 5}]}
""")
    custom = Registry.load(path)
    assert custom.weights(Basis.STAFF, date(2026, 11, 1)) == {"council": 10, "police": 30}


@pytest.mark.parametrize("content, message", [
    ("tenants: [{code: a1, name: A, valid_from: 2020-01-01, successor: zz, figures: [{from: 2020-01-01, staff: 1, sites: 1, budget: 1}]}]", "successor zz"),
    ("tenants: [{code: a1, name: A, valid_from: 2020-01-01, figures: []}]", "figures"),
    ("tenants: [{code: a1, name: A, valid_from: 2020-01-01, figures: [{from: 2020-01-01, staff: -1, sites: 1, budget: 1}]}]", "staff"),
    ("tenants: [{code: a1, name: A}", "invalid"),
])
def test_a_broken_registry_file_is_refused_with_the_reason(tmp_path, content, message):
    path = tmp_path / "tenants.yaml"
    path.write_text(content)
    with pytest.raises(RegistryError, match=message):
        Registry.load(path)


def test_an_unknown_tenant_is_an_error():
    with pytest.raises(RegistryError, match="unknown tenant"):
        registry.accountable("mars", date(2026, 1, 1))
