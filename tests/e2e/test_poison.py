"""No input stops the ledger or the read model: what the API refuses with a 422 is, put on a topic
by other means, a dead letter with its reason, and each goes on with what follows, on PostgreSQL."""

import json
import time
import uuid

import httpx
import pytest
from aiokafka import TopicPartition

from shared.contracts import ChargeRecorded, SharedCostRecorded
from shared.db import engine
from shared.events import EventCodec
from shared.kafka.positions import Positions
from shared.settings import Settings
from shared.tenants import Registry
from shared.topics import CHARGES, DEAD_LETTERS, FINANCE_REFUSALS, SHARED_COSTS, events_topic
from tests.e2e.kafka_reading import read_until

codec = EventCodec(Registry.load())
PERIOD = "2033-02"  # this module's own month: nothing else charges it
GATEWAY_GROUP = Settings.model_fields["gateway_group"].default


def charge(description: str = "Laptop", period: str = PERIOD) -> tuple[bytes, bytes, list]:
    data = ChargeRecorded(charge_id=uuid.uuid4(), service="it", request_type="laptop-provision", quantity=1,
                          unit_price="850.00", amount="850.00", cost_centre="ASC-100", period=period,
                          description="placeholder")
    return tampered(codec.build("uk.hps.finance.charge.recorded", "/hps/it", "council", data), "council",
                    description=description)


def shared_cost(period: str) -> tuple[bytes, bytes, list]:
    data = SharedCostRecorded(cost_id=uuid.uuid4(), service="it", description="Network", amount="100.00",
                              period="2026-01", basis="staff", recorded_by="someone")
    return tampered(codec.build("uk.hps.finance.shared-cost.recorded", "/hps/finance", "hps", data), "it",
                    period=period)


def tampered(event, key: str, **data) -> tuple[bytes, bytes, list]:
    """The event as a producer that skips validation would write it, with `data` changed."""
    key_bytes, value, headers = codec.encode(event, key)
    envelope = json.loads(value)
    envelope["data"].update(data)
    return key_bytes, json.dumps(envelope).encode(), headers


@pytest.mark.parametrize("path, body, field", [
    ("/v1/finance/shared-costs", {"service": "it", "description": "Network", "amount": "100.00",
                                  "period": "0000-01", "basis": "staff"}, "period"),
    ("/v1/finance/shared-costs", {"service": "it", "description": "Network", "amount": "100.00",
                                  "period": "1990-01", "basis": "staff"}, "period"),
    ("/v1/finance/shared-costs", {"service": "it", "description": "Network", "amount": "100.00",
                                  "period": "2005-01", "basis": "staff"}, "period"),
    ("/v1/finance/shared-costs", {"service": "it", "description": "Net\x00work", "amount": "100.00",
                                  "period": "2026-01", "basis": "staff"}, "description"),
])
def test_the_finance_api_refuses_what_the_ledger_could_not_post(as_, path, body, field):
    answer = as_("dev-finance").http.post(path, json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field


def test_a_request_with_a_nul_or_completed_for_a_month_before_the_tenant_joined_is_a_422(as_):
    council, staff = as_("dev-council"), as_("dev-staff-it")
    nul = council.submit("it", "account-setup", quantity=1, description="New\x00starter")
    assert nul.status_code == 422 and nul.json()["error"]["field"] == "description", nul.text
    assert "U+0000" in nul.json()["error"]["message"]

    request_id = council.submit("it", "account-setup", quantity=1).json()["request_id"]
    council.await_status(request_id, "submitted")
    for action, status in (("accept", "accepted"), ("start", "in_progress")):
        assert staff.move(request_id, action).status_code == 202
        council.await_status(request_id, status)
    for period, why in (("2005-01", "not a tenant until 2007-04-01"), ("1990-01", "between 2000-01 and 2099-12"),
                        ("0000-01", "between 2000-01 and 2099-12")):
        refused = staff.move(request_id, "complete", quantity=1, period=period)
        assert refused.status_code == 422 and refused.json()["error"]["field"] == "period", refused.text
        assert why in refused.json()["error"]["message"]
    refused = staff.move(request_id, "reject", reason="bell\x07")
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "reason", refused.text


def charges_of(platform, period: str) -> dict:
    answer = httpx.get(f"{platform.url}/v1/finance/periods/{period}", headers={"Authorization": "Bearer dev-finance"})
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_poisoned_messages_become_dead_letters_and_the_ledger_goes_on(platform):
    # A NUL that PostgreSQL would refuse, a month with no date, a month outside the platform's
    # range, each written straight onto the ledger's topics; then a well-formed cost for a month
    # before anyone was a tenant, which the ledger refuses as a command; then a good charge.
    poisons = {"nul": (CHARGES, charge(description="Lap\x00top")), "0000-01": (SHARED_COSTS, shared_cost("0000-01")),
               "1990-01": (SHARED_COSTS, shared_cost("1990-01"))}
    where = {}
    for name, (topic, (key, value, headers)) in poisons.items():
        where[name] = (topic, *await platform.produce(topic, value, key, headers))
    key, value, headers = shared_cost("2005-01")
    unbillable = json.loads(value)["id"]
    await platform.produce(SHARED_COSTS, value, key, headers)
    key, value, headers = charge()
    await platform.produce(CHARGES, value, key, headers)

    # The good charge is posted: the ledger did not stop at the poison before it.
    deadline = time.monotonic() + 60
    while charges_of(platform, PERIOD)["charges"] != 1:
        assert time.monotonic() < deadline, charges_of(platform, PERIOD)
        time.sleep(0.3)
    assert charges_of(platform, PERIOD)["charges_total"] == "850.00"

    def ours(messages) -> dict:
        found = {}
        for m in messages:
            h = {k: v.decode() for k, v in m.headers if k.startswith("hps_dlq_")}
            for name, (topic, partition, offset) in where.items():
                if (h.get("hps_dlq_topic"), h.get("hps_dlq_partition"), h.get("hps_dlq_offset")) == (
                        topic, str(partition), str(offset)):
                    found[name] = h["hps_dlq_reason"]
        return found

    reasons = ours(await read_until(platform.bootstrap, DEAD_LETTERS, lambda ms: len(ours(ms)) == len(poisons)))
    assert "data.description" in reasons["nul"] and "U+0000" in reasons["nul"]
    for period in ("0000-01", "1990-01"):
        assert "data.period" in reasons[period] and "between 2000-01 and 2099-12" in reasons[period]
    # Not a dead letter but the ledger's refusal, told on finance.refusals and kept for whoever asks.
    refusals = await read_until(platform.bootstrap, FINANCE_REFUSALS, lambda ms: any(
        json.loads(m.value)["data"]["command_id"] == unbillable for m in ms))
    [refusal] = [json.loads(m.value)["data"] for m in refusals if json.loads(m.value)["data"]["command_id"] == unbillable]
    assert refusal["reason"] == "period: no partner was a tenant of the shared service on 2005-01-01", refusal
    outcome = httpx.get(f"{platform.url}/v1/finance/commands/{unbillable}", headers={"Authorization": "Bearer dev-finance"})
    assert outcome.status_code == 200 and outcome.json()["state"] == "refused", outcome.text

    health = httpx.get(f"http://127.0.0.1:{platform.finance_port}/health").json()
    assert health["status"] == "ok"
    [engine] = health["consumers"]
    assert engine["name"] == "recharge-engine" and engine["dead_lettered"] >= len(poisons) and engine["state"] == "running"


async def test_an_event_the_read_model_cannot_read_is_a_dead_letter_and_passed_for_good(platform, as_, postgres_url):
    partition, offset = await platform.produce(events_topic("it"), f"garbage {uuid.uuid4()}".encode(), b"garbage")

    def ours(messages) -> list[str]:
        return [dict(m.headers)["hps_dlq_reason"].decode() for m in messages
                if (dict(m.headers).get("hps_dlq_topic"), dict(m.headers).get("hps_dlq_offset")) ==
                (events_topic("it").encode(), str(offset).encode())]

    [reason] = ours(await read_until(platform.bootstrap, DEAD_LETTERS, ours))
    assert "not JSON" in reason
    # Passed in the read model's own positions, once its dead letter is sent: a restart does not refuse it again.
    positions, tp = Positions(engine(postgres_url), GATEWAY_GROUP, from_start=True), TopicPartition(
        events_topic("it"), partition)
    deadline = time.monotonic() + 30
    while positions.resume_at([tp])[tp] <= offset:
        assert time.monotonic() < deadline, positions.resume_at([tp])
        time.sleep(0.3)
    positions.engine.dispose()
    # And it goes on: a request submitted after it is shown.
    council = as_("dev-council")
    request_id = council.submit("it", "account-setup", quantity=1).json()["request_id"]
    council.await_status(request_id, "submitted")
