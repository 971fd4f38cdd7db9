"""What the portal's pages say of amounts, SLA clocks, spend and measures, from the API's answers."""

from datetime import UTC, datetime
from decimal import Decimal

from services.gateway.portal import views

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def test_the_sla_clock_reads_as_time_left_or_how_late():
    open_ = {"status": "accepted", "sla_due_at": "2026-12-09T12:00:00+00:00"}
    assert views.sla(open_, NOW) == "due in 2 d"
    assert views.sla({**open_, "sla_due_at": "2026-12-07T15:00:00+00:00"}, NOW) == "due in 3 h"
    assert views.sla({**open_, "sla_due_at": "2026-12-07T09:00:00+00:00"}, NOW) == "overdue by 3 h"
    assert views.sla({**open_, "status": "completed", "sla_breached": True}, NOW) == "breached"
    assert views.sla({**open_, "status": "cancelled"}, NOW) == "met"


def test_spend_adds_every_section_per_service_to_the_penny():
    draft = {"direct_charges": [{"lines": [{"service": "it", "amount": "850.00"}, {"service": "it", "amount": "0.10"}]},
                                {"lines": [{"service": "hr", "amount": "310.50"}]}],
             "shared_costs": [{"service": "it", "share": "0.20"}], "corrections": [],
             "prior_period_adjustments": [{"service": "hr", "amount": "-10.50"}],
             "credit_notes": [{"service": "it", "amount": "-850.00"}]}
    assert views.spend(draft) == {"hr": Decimal("300.00"), "it": Decimal("0.30")}
    assert views.spend(None) == {}


def test_a_form_gives_the_one_measure_of_its_request_type():
    assert views.measures("2", None, None) == {"quantity": 2}
    assert views.measures(None, "1.5", None) == {"hours": "1.5"}
    assert views.measures("", None, "1000.00") == {"value": "1000.00"}


def test_amounts_read_as_pounds():
    assert views.money("1234.5") == "£1,234.50" and views.money(None) == "£0.00"
