"""Partners, staff and the services, end to end through the real broker."""

import json
import uuid
from collections import Counter
from decimal import Decimal

from aiokafka import AIOKafkaProducer

from shared.events import EventCodec
from shared.tenants import Registry
from tests.conftest import free_ports
from tests.e2e.kafka_reading import await_group_past, events_of, read_all, read_until
from tests.e2e.platform import Client, Platform

codec = EventCodec(Registry.load())

# (service, type, what is asked and delivered, the charge it must raise)
WORK = [
    ("it", "laptop-provision", {"quantity": 2}, Decimal("1700.00")),
    ("hr", "advice-case", {"hours": "3.5"}, Decimal("168.00")),
    ("procurement", "tender", {"value": "80000.00"}, Decimal("1200.00")),
    ("finance", "ap-invoice", {"quantity": 40}, Decimal("128.00")),
]
STAFF = {s: f"dev-staff-{s}" for s in ("it", "hr", "procurement", "finance")}


def complete(as_, service, request_id, delivered):
    staff = as_(STAFF[service])
    for action, status in (("accept", "accepted"), ("start", "in_progress")):
        assert staff.move(request_id, action).status_code == 202
        staff.await_status(request_id, status)
    assert staff.move(request_id, "complete", period="2026-10", **delivered).status_code == 202
    return staff.await_status(request_id, "completed")


def charges_of(messages, request_ids):
    found = {}
    for m in messages:
        for event in events_of([m]):
            if event.data.get("request_id") in request_ids:
                found[event.data["request_id"]] = (event, m.key.decode())
    return found


async def test_three_partners_work_through_all_four_services_into_charges(platform, as_):
    submitted = {}  # request id -> (tenant, expected amount)
    for tenant in ("council", "ccg", "hospital"):
        partner = as_(f"dev-{tenant}")
        for service, request_type, measures, amount in WORK:
            response = partner.submit(service, request_type, **measures)
            assert response.status_code == 202, response.text
            submitted[response.json()["request_id"]] = (tenant, service, measures, amount)

    for request_id, (tenant, service, measures, _) in submitted.items():
        if service == "procurement":  # £80,000 is above the tender approval limit
            as_(f"dev-{tenant}").await_status(request_id, "awaiting_approval")
            assert as_(f"dev-{tenant}-budget").move(request_id, "approve").status_code == 202
        as_(f"dev-{tenant}").await_status(request_id, "submitted")
        complete(as_, service, request_id, measures)

    messages = await read_until(platform.bootstrap, "finance.charges",
                                lambda ms: len(charges_of(ms, submitted)) == len(submitted))
    for request_id, (event, key) in charges_of(messages, submitted).items():
        tenant, service, _, amount = submitted[request_id]
        assert event.tenant == tenant and key == tenant
        assert event.data["service"] == service and event.data["period"] == "2026-10"
        assert Decimal(event.data["amount"]) == amount

    for tenant in ("council", "ccg", "hospital"):
        listing = as_(f"dev-{tenant}").http.get("/v1/requests", params={"limit": 200}).json()["items"]
        assert {r["tenant"] for r in listing} == {tenant}
        assert {r for r in submitted if submitted[r][0] == tenant} <= {r["request_id"] for r in listing}


def test_resubmitting_with_an_idempotency_key_returns_the_same_request(as_):
    council = as_("dev-council")
    key = {"Idempotency-Key": f"order-{uuid.uuid4()}"}
    first = council.submit("it", "account-setup", quantity=3, headers=key)
    again = council.submit("it", "account-setup", quantity=3, headers=key)
    assert first.status_code == again.status_code == 202
    assert first.json()["request_id"] == again.json()["request_id"]
    changed = council.submit("it", "account-setup", quantity=4, headers=key)
    assert changed.status_code == 409
    assert changed.json()["error"]["code"] == "idempotency_conflict"
    # The same key is the hospital's own business.
    assert as_("dev-hospital").submit("it", "account-setup", quantity=4, headers=key).status_code == 202


def not_found(request_id: str) -> dict:
    """The whole body of a 404: the id the caller gave, and nothing the platform knows about it."""
    return {"error": {"code": "not_found", "message": f"no request {request_id}"}}


def test_another_tenants_request_is_not_found_on_every_endpoint(as_):
    response = as_("dev-council").submit("hr", "dbs-check", quantity=1)
    assert response.status_code == 202, response.text
    request_id = response.json()["request_id"]
    as_("dev-council").await_status(request_id, "submitted")
    # To the hospital it is exactly as absent as an id that was never issued: no status, tenant or
    # allowed actions in the answer.
    hospital = as_("dev-hospital")
    never_issued = str(uuid.uuid4())
    response = hospital.get(never_issued)
    assert response.status_code == 404 and response.json() == not_found(never_issued)
    response = hospital.get(request_id)
    assert response.status_code == 404 and response.json() == not_found(request_id)
    for action in ("cancel", "accept", "complete", "approve"):
        response = hospital.move(request_id, action)
        assert response.status_code == 404 and response.json() == not_found(request_id), response.text
    response = hospital.http.get(f"/v1/requests/{request_id}/history")
    assert response.status_code == 404 and response.json() == not_found(request_id), response.text
    listing = hospital.http.get("/v1/requests", params={"limit": 200})
    assert listing.status_code == 200
    assert request_id not in {r["request_id"] for r in listing.json()["items"]}
    # Staff of another service do not see it either.
    response = as_("dev-staff-it").get(request_id)
    assert response.status_code == 404 and response.json() == not_found(request_id)


def test_an_illegal_transition_is_the_workers_409_listing_the_allowed_ones(as_):
    request_id = as_("dev-council").submit("it", "laptop-provision", quantity=1).json()["request_id"]
    as_("dev-council").await_status(request_id, "submitted")
    response = as_("dev-staff-it").move(request_id, "complete", quantity=1, wait=10)
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert (error["code"], error["status"], error["allowed"]) == ("illegal_transition", "submitted", ["accept", "reject"])
    # What no status would let a partner do is the gateway's to refuse, at once.
    refused = as_("dev-council").move(request_id, "accept")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden", refused.text


def test_a_partner_cancels_before_work_starts_but_not_after(as_):
    council, staff = as_("dev-council"), as_("dev-staff-hr")
    first = council.submit("hr", "dbs-check", quantity=1).json()["request_id"]
    council.await_status(first, "submitted")
    assert council.move(first, "cancel").status_code == 202
    council.await_status(first, "cancelled")
    second = council.submit("hr", "dbs-check", quantity=1).json()["request_id"]
    council.await_status(second, "submitted")
    staff.move(second, "accept")
    staff.await_status(second, "accepted")
    staff.move(second, "start")
    staff.await_status(second, "in_progress")
    refused = council.move(second, "cancel", wait=10)
    assert refused.status_code == 409 and refused.json()["error"]["allowed"] == [], refused.text


def test_an_order_above_the_threshold_waits_for_the_budget_holder(as_):
    council, budget_holder = as_("dev-council"), as_("dev-council-budget")
    large = council.submit("procurement", "purchase-order", value="15000.00").json()["request_id"]
    small = council.submit("procurement", "purchase-order", value="2000.00").json()["request_id"]
    council.await_status(small, "submitted")
    council.await_status(large, "awaiting_approval")
    assert as_("dev-staff-procurement").move(large, "accept", wait=10).status_code == 409
    not_budget_holder = council.move(large, "approve")
    assert not_budget_holder.status_code == 403, not_budget_holder.text
    assert "needs budget-holder" in not_budget_holder.json()["error"]["message"]
    assert as_("dev-hospital-budget").move(large, "approve").status_code == 404
    assert budget_holder.move(large, "approve").status_code == 202
    council.await_status(large, "submitted")


async def test_payroll_is_charged_once_per_period_even_when_run_twice(platform, as_):
    # Finance runs August's payroll, HR runs it again, and finance once more.
    for token in ("dev-finance", "dev-staff-hr", "dev-finance"):
        response = as_(token).http.post("/v1/payroll/runs", json={"period": "2026-08"})
        assert response.status_code == 202, response.text
        assert response.json()["tenants"] == ["council", "ccg", "hospital"]
    # Every run is on hr.requests (acknowledged before the 202); once the HR worker has committed
    # past them all, every charge they caused is on finance.charges.
    await await_group_past(platform.bootstrap, "hps-hr", "hr.requests")

    charges = events_of(await read_all(platform.bootstrap, "finance.charges"))
    august = [e for e in charges if e.data["request_type"] == "payroll" and e.data["period"] == "2026-08"]
    assert Counter(e.tenant for e in august) == {"council": 1, "ccg": 1, "hospital": 1}, \
        "a payroll run repeated for the same period must not charge again"
    council = next(e for e in august if e.tenant == "council")
    assert Decimal(council.data["quantity"]) == 3900 and Decimal(council.data["amount"]) == Decimal("25350.00")

    refused = as_("dev-council").http.post("/v1/payroll/runs", json={"period": "2026-08"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"


def test_a_payroll_run_waited_for_answers_what_each_tenant_was_charged(as_):
    finance = as_("dev-finance")
    first = finance.http.post("/v1/payroll/runs", json={"period": "2026-07"}, params={"wait": "15"})
    assert first.status_code == 200, first.text
    charged = {c["result"]["command_id"]: c for c in first.json()["commands"]}
    council = next(c for c in first.json()["commands"] if c["request_id"] == "payroll/2026-07/council")
    assert council["state"] == "applied" and council["command_id"] in charged
    assert (council["result"]["payslips"], council["result"]["amount"], council["result"]["charged_before"]) == \
        (3900, "25350.00", False)
    # Asked again: each tenant's command is answered, and says the period was charged already.
    again = finance.http.post("/v1/payroll/runs", json={"period": "2026-07"}, headers={"Prefer": "wait=15"})
    assert again.status_code == 200, again.text
    assert all(c["result"]["charged_before"] for c in again.json()["commands"])
    one = again.json()["commands"][0]
    assert finance.http.get(one["location"]).json()["state"] == "applied"
    # Without waiting: 202, each command pending at its Location.
    later = finance.http.post("/v1/payroll/runs", json={"period": "2026-07"})
    assert later.status_code == 202 and {c["state"] for c in later.json()["commands"]} <= {"pending", "applied"}


async def test_a_poison_message_is_dead_lettered_and_the_worker_goes_on(platform, as_):
    producer = AIOKafkaProducer(bootstrap_servers=platform.bootstrap, acks="all")
    await producer.start()
    poison = f"not an event {uuid.uuid4()}".encode()
    untagged = json.dumps({"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/hps/x",
                           "type": "uk.hps.it.request.submitted", "time": "2026-10-01T00:00:00Z", "data": {}}).encode()
    await producer.send_and_wait("it.requests", poison, key=b"poison")
    await producer.send_and_wait("it.requests", untagged, key=b"poison")
    await producer.stop()

    request_id = as_("dev-council").submit("it", "account-setup", quantity=1).json()["request_id"]
    as_("dev-council").await_status(request_id, "submitted")

    messages = await read_until(platform.bootstrap, "ops.dead-letters",
                                lambda ms: {poison, untagged} <= {m.value for m in ms})
    letters = {m.value: dict(m.headers) for m in messages}
    assert letters[poison]["hps_dlq_topic"] == b"it.requests"
    assert int(letters[poison]["hps_dlq_offset"]) >= 0 and b"not JSON" in letters[poison]["hps_dlq_reason"]
    assert b"missing tenant" in letters[untagged]["hps_dlq_reason"]


def test_request_state_survives_a_worker_restart(platform, as_):
    council, staff = as_("dev-council"), as_("dev-staff-it")
    request_id = council.submit("it", "laptop-provision", quantity=1).json()["request_id"]
    council.await_status(request_id, "submitted")
    staff.move(request_id, "accept")
    staff.await_status(request_id, "accepted")

    platform.stop("it", kill=True)
    platform.start("it")

    # The restarted worker knows the request was accepted: start is legal, and completes it.
    staff.move(request_id, "start")
    staff.await_status(request_id, "in_progress", timeout_s=90)
    staff.move(request_id, "complete", quantity=1)
    assert staff.await_status(request_id, "completed")["amount"] == "850.00"


async def test_an_overdue_incident_raises_an_sla_breach_event(platform, as_):
    council = as_("dev-council")
    response = council.submit("it", "incident", hours="1", priority="P1")
    assert response.status_code == 202
    request_id = response.json()["request_id"]
    messages = await read_until(platform.bootstrap, "it.events",
                                lambda ms: any(request_id.encode() in m.value and b"sla-breached" in m.value for m in ms))
    breach = next(codec.decode(m.value, m.headers) for m in messages
                  if request_id.encode() in m.value and b"sla-breached" in m.value)
    assert breach.tenant == "council" and breach.data["priority"] == "P1"
    assert council.await_status(request_id, "submitted", sla_breached=True)["version"] == 2


def test_a_gateway_with_a_new_database_rebuilds_its_view_from_the_events(platform, as_, tmp_path):
    council = as_("dev-council")
    request_id = council.submit("hr", "dbs-check", quantity=2).json()["request_id"]
    council.await_status(request_id, "submitted")
    # A second gateway, its own SQLite database and group, started after the request was made.
    second = Platform(platform.bootstrap, tmp_path / "second", *free_ports(3),
                      {"HPS_DATABASE_URL": "", "HPS_GATEWAY_GROUP": f"test-gateway-{uuid.uuid4().hex[:6]}"})
    second.state_dir.mkdir()
    second.start("gateway")
    try:
        second.await_health(second.url, "gateway")
        seen = Client(second.url, "dev-council").await_status(request_id, "submitted")
        assert seen["requested"]["quantity"] == 2
    finally:
        second.stop_all()


async def test_a_transition_the_worker_refuses_shows_on_the_request_as_its_last_refusal(platform, as_):
    # The council's request is submitted; a command to complete it straight away reaches the IT
    # worker by another road than the gateway (which would have refused it itself).
    council = as_("dev-council")
    request_id = council.submit("it", "account-setup", quantity=1).json()["request_id"]
    council.await_status(request_id, "submitted")
    complete = codec.build("uk.hps.it.request.transition-requested", "/hps/gateway", "council",
                           {"request_id": request_id, "action": "complete", "actor": "IT service desk",
                            "actor_role": "staff", "delivered": {"quantity": 1}}, subject=request_id)
    key, value, headers = codec.encode(complete, request_id)
    await platform.produce("it.requests", value, key, headers)
    await await_group_past(platform.bootstrap, "hps-it", "it.requests")
    await await_group_past(platform.bootstrap, "hps-gateway-readmodel", "it.events")

    view = council.get(request_id).json()
    assert view["status"] == "submitted" and view["version"] == 1
    assert view["last_refusal"] == "cannot complete a request that is submitted; allowed: accept, reject"
