"""The request lifecycle as the workers apply it, without Kafka."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.hr import payroll
from shared.catalogue import Catalogue, load_all
from shared.contracts import RequestEvent, RequestSnapshot
from shared.contracts.names import PAYROLL_CHARGED, PAYROLL_RUN_REQUESTED
from shared.events import EventCodec
from shared.request_engine.handlers import RequestHandlers, Unprocessable
from shared.tenants import Registry

registry = Registry.load()
codec = EventCodec(registry)
catalogues = load_all()


class Worker:
    """One service's handlers over an in-memory table, as the faust agent drives them."""

    def __init__(self, service: str, extra=None):
        self.service = service
        self.handlers = RequestHandlers(service, catalogues[service], codec).registry()
        if extra:
            self.handlers |= extra(catalogues[service], codec, registry)
        self.table: dict = {}

    def apply(self, key: str, event):
        outcome = self.handlers[event.type](self.table.get(key), event)
        if outcome.state is not None:
            self.table[key] = outcome.state
        return outcome.emits

    def request(self, key: str) -> RequestSnapshot:
        return RequestSnapshot.model_validate(self.table[key]["request"])


def submitted(service, request_type, tenant="council", **requested):
    request_id = uuid.uuid4()
    data = {"request_id": str(request_id), "service": service, "request_type": request_type, "priority": "P3",
            "description": "New starter in Adult Social Care", "cost_centre": "ASC-100",
            "requested": requested, "submitted_by": f"{tenant}-user", "submitted_at": datetime.now(UTC).isoformat()}
    return str(request_id), codec.build(RequestEvent.SUBMITTED.of(service), "/hps/gateway", tenant, data,
                                        subject=str(request_id))


def transition(service, request_id, action, role="staff", tenant="council", **extra):
    data = {"request_id": request_id, "action": action, "actor": "someone", "actor_role": role, **extra}
    return codec.build(RequestEvent.TRANSITION_REQUESTED.of(service), "/hps/gateway", tenant, data,
                       subject=request_id)


def test_a_laptop_request_runs_from_submission_to_a_charge():
    it = Worker("it")
    # The council asks for two laptops.
    key, event = submitted("it", "laptop-provision", quantity=2)
    [(topic, _, changed)] = it.apply(key, event)
    assert topic == "it.events" and changed.data["status"] == "submitted"
    assert changed.data["amount"] == "1700.00"
    # IT staff accept, start and complete it, delivering two.
    it.apply(key, transition("it", key, "accept"))
    it.apply(key, transition("it", key, "start"))
    emits = it.apply(key, transition("it", key, "complete", delivered={"quantity": 2}, period="2026-10"))
    charge = next(e for topic, _, e in emits if topic == "finance.charges")
    assert charge.tenant == "council"
    assert charge.data["amount"] == "1700.00"
    assert charge.data["period"] == "2026-10" and charge.data["request_id"] == key
    assert it.request(key).status == "completed"


def test_a_redelivered_event_changes_nothing_and_emits_the_same_ids():
    it = Worker("it")
    key, event = submitted("it", "account-setup", quantity=1)
    it.apply(key, event)
    accept = transition("it", key, "accept")
    before = it.table[key]
    first = it.apply(key, accept)
    # Redelivered after its state was stored: nothing happens.
    assert it.apply(key, accept) == []
    assert it.apply(key, event) == []
    assert it.request(key).version == 2
    # Redelivered after a crash before its state was stored: the very same events again.
    again = it.handlers[accept.type](before, accept).emits
    assert [(t, k, e.id, e.data) for t, k, e in again] == [(t, k, e.id, e.data) for t, k, e in first]


def test_an_illegal_transition_is_refused_with_the_allowed_ones():
    it = Worker("it")
    key, event = submitted("it", "incident", hours="1.5")
    it.apply(key, event)
    command = transition("it", key, "complete", delivered={"hours": "2"})
    [(_, _, refused)] = it.apply(key, command)
    assert refused.type == "uk.hps.it.request.transition-refused"
    assert "allowed: accept, reject" in refused.data["reason"]
    # What the caller is told: which command, by whom, why, and what is allowed instead.
    assert (refused.data["command_id"], refused.data["actor"], refused.data["code"]) == \
        (str(command.id), "someone", "illegal_transition")
    assert (refused.data["status"], refused.data["allowed"]) == ("submitted", ["accept", "reject"])
    assert it.request(key).status == "submitted"


def test_a_change_names_the_command_and_the_actor_that_made_it():
    it = Worker("it")
    key, event = submitted("it", "incident", hours="1.5")
    it.apply(key, event)
    assert it.request(key).change.model_dump(mode="json") == \
        {"action": "submit", "actor": "council-user", "command_id": str(event.id)}
    accept = transition("it", key, "accept")
    it.apply(key, accept)
    assert (it.request(key).change.action, it.request(key).change.command_id) == ("accept", accept.id)


def test_what_comes_with_a_transition_is_refused_as_invalid_naming_the_field():
    it = Worker("it")
    key, event = submitted("it", "incident", hours="1.5")
    it.apply(key, event)
    [(_, _, refused)] = it.apply(key, transition("it", key, "reject"))
    assert (refused.data["code"], refused.data["field"]) == ("invalid", "reason")
    it.apply(key, transition("it", key, "accept"))
    it.apply(key, transition("it", key, "start"))
    [(_, _, refused)] = it.apply(key, transition("it", key, "complete"))
    assert (refused.data["code"], refused.data["field"], refused.data["status"]) == ("invalid", "hours", "in_progress")
    [(_, _, refused)] = it.apply(key, transition("it", key, "complete", delivered={"quantity": 2}))
    assert refused.data["field"] == "hours"


def test_a_partner_cannot_cancel_once_work_has_started():
    hr = Worker("hr")
    key, event = submitted("hr", "dbs-check", quantity=1)
    hr.apply(key, event)
    hr.apply(key, transition("hr", key, "accept"))
    hr.apply(key, transition("hr", key, "start"))
    [(_, _, refused)] = hr.apply(key, transition("hr", key, "cancel", role="partner"))
    assert refused.data["status"] == "in_progress"


def test_time_and_materials_charge_the_hours_delivered_rounded_half_up():
    # A desk at £24.69 an hour: half an hour is £12.345 exactly, charged £12.35. Half-even and
    # truncation would both charge £12.34. (The shipped catalogues' rates are whole pounds.)
    desk = Catalogue.model_validate({
        "service": "it", "name": "IT", "sla": {"P1": "4h", "P2": "8h", "P3": "3d", "P4": "10d"},
        "request_types": {"incident": {"name": "Incident",
                                       "price": {"model": "time_and_materials", "hourly_rate": "24.69"}}}})
    it = Worker("it")
    it.handlers = RequestHandlers("it", desk, codec).registry()
    key, event = submitted("it", "incident", hours="1")
    it.apply(key, event)
    it.apply(key, transition("it", key, "accept"))
    it.apply(key, transition("it", key, "start"))
    emits = it.apply(key, transition("it", key, "complete", delivered={"hours": "0.5"}))
    charge = next(e for topic, _, e in emits if topic == "finance.charges")
    assert (charge.data["quantity"], charge.data["unit_price"], charge.data["amount"]) == ("0.5", "24.69", "12.35")
    assert it.request(key).amount == Decimal("12.35")


def test_a_large_order_waits_for_the_budget_holder():
    procurement = Worker("procurement")
    key, event = submitted("procurement", "purchase-order", value="45000.00")
    procurement.apply(key, event)
    assert procurement.request(key).status == "awaiting_approval"
    [(_, _, refused)] = procurement.apply(key, transition("procurement", key, "accept"))
    assert "allowed: none" in refused.data["reason"]
    [(_, _, refused)] = procurement.apply(key, transition("procurement", key, "approve", role="partner"))
    assert refused.type.endswith("transition-refused")
    procurement.apply(key, transition("procurement", key, "approve", role="budget-holder"))
    assert procurement.request(key).status == "submitted"


def test_a_small_order_goes_straight_to_the_queue():
    procurement = Worker("procurement")
    key, event = submitted("procurement", "purchase-order", value="900.00")
    procurement.apply(key, event)
    assert procurement.request(key).status == "submitted"
    assert procurement.request(key).amount == Decimal("15.00")  # the floor


def test_an_overdue_request_is_flagged_once():
    it = Worker("it")
    key, event = submitted("it", "incident", hours="1")
    it.apply(key, event)
    due = it.request(key).sla_due_at
    check = codec.build(RequestEvent.SLA_CHECK.of("it"), "/hps/it", "council", {"request_id": key}, subject=key)
    assert it.apply(key, check) == []  # not due yet
    late = check.model_copy(update={"time": due + timedelta(seconds=1), "id": uuid.uuid4()})
    emits = it.apply(key, late)
    assert [e.type for _, _, e in emits] == ["uk.hps.it.request.changed", "uk.hps.it.request.sla-breached"]
    assert it.request(key).sla_breached
    assert it.request(key).change.model_dump(mode="json") == {"action": "sla-breach", "actor": "sla-clock",
                                                             "command_id": None}
    again = late.model_copy(update={"id": uuid.uuid4()})
    assert it.apply(key, again) == []


def test_a_transition_for_an_unknown_request_is_refused_as_not_found():
    it = Worker("it")
    request_id = str(uuid.uuid4())
    command = transition("it", request_id, "accept")
    [(topic, key, refused)] = it.apply(request_id, command)
    assert (topic, key, refused.type) == ("it.events", request_id, RequestEvent.TRANSITION_REFUSED.of("it"))
    assert (refused.data["code"], refused.data["status"], refused.data["command_id"]) == \
        ("not_found", None, str(command.id))
    assert it.table == {}  # nothing stored for a request that is not there


def test_payroll_is_charged_once_per_tenant_and_period():
    hr = Worker("hr", payroll.handlers)
    run = codec.build(PAYROLL_RUN_REQUESTED, "/hps/gateway", "council",
                      {"period": "2026-10", "requested_by": "finance"})
    key = payroll.run_key("2026-10", "council")
    [(topic, tenant_key, charge), (answer_topic, answer_key, answer)] = hr.apply(key, run)
    assert (topic, tenant_key) == ("finance.charges", "council")
    assert charge.data["quantity"] == "3900" and charge.data["amount"] == "25350.00"
    # The run's outcome, for whoever asked: what was charged, under the run's command id.
    assert (answer_topic, answer_key, answer.type) == ("hr.events", key, PAYROLL_CHARGED)
    assert answer.data == {"period": "2026-10", "payslips": 3900, "amount": "25350.00",
                           "charge_id": charge.data["charge_id"], "command_id": str(run.id), "charged_before": False}
    again = run.model_copy(update={"id": uuid.uuid4()})
    [(_, _, answer)] = hr.apply(key, again)  # nothing charged twice; told so
    assert (answer.data["charged_before"], answer.data["command_id"]) == (True, str(again.id))


def test_payroll_for_a_tenant_not_yet_joined_is_unprocessable():
    hr = Worker("hr", payroll.handlers)
    run = codec.build(PAYROLL_RUN_REQUESTED, "/hps/gateway", "police",
                      {"period": "2026-10", "requested_by": "finance"})
    with pytest.raises(Unprocessable, match="not a tenant in 2026-10"):
        hr.apply(payroll.run_key("2026-10", "police"), run)


def test_payroll_for_a_tenant_with_no_head_count_charges_nothing_and_refuses_nothing():
    registry_ = Registry.load()
    council = registry_.tenants["council"]
    no_staff = council.model_copy(update={"figures": tuple(f.model_copy(update={"staff": 0}) for f in council.figures)})
    empty = Registry({**registry_.tenants, "council": no_staff}, registry_.agreements, registry_.unit)
    hr = Worker("hr", lambda catalogue, codec_, _: payroll.handlers(catalogue, codec_, empty))
    run = codec.build(PAYROLL_RUN_REQUESTED, "/hps/gateway", "council", {"period": "2026-10", "requested_by": "finance"})
    key = payroll.run_key("2026-10", "council")
    [(topic, _, answer)] = hr.apply(key, run)  # no charge, no refusal: an outcome saying nothing was owed
    assert topic == "hr.events" and (answer.data["payslips"], answer.data["amount"]) == (0, "0.00")
    assert hr.table[key] == {"payroll": None, "tenant": "council"}  # run: asking again charges nothing either
    [(topic, _, _)] = hr.apply(key, run.model_copy(update={"id": uuid.uuid4()}))
    assert topic == "hr.events"
