"""Idempotency-Keys are true: whatever dies between taking a key and Kafka's acknowledgement, the
retry delivers the command exactly once; a key reused with another body is a 409."""

import uuid

import httpx
import pytest

from shared import ids
from shared.topics import SHARED_COSTS
from tests.e2e.kafka_reading import events_of, read_all, submitted_events
from tests.e2e.test_bad_input import keyed_request_id


@pytest.fixture
def gateway_dies_after_claiming(platform):
    """The platform's gateway, replaced by one that SIGKILLs itself once it has taken an
    Idempotency-Key and before it publishes; put back afterwards."""
    platform.stop("gateway")
    platform.extra_env["HPS_FAULTS"] = "after-idempotency-claim:kill"
    try:
        platform.start("gateway")
        platform.await_health(platform.url, "gateway")
        yield platform.processes["gateway"]
    finally:
        del platform.extra_env["HPS_FAULTS"]
        if platform.processes["gateway"].poll() is not None:
            platform.processes.pop("gateway")
        else:
            platform.stop("gateway")
        platform.start("gateway")
        platform.await_health(platform.url, "gateway")


async def test_a_gateway_killed_between_claim_and_publish_delivers_the_request_once_on_retry(
        platform, as_, gateway_dies_after_claiming):
    council = as_("dev-council")
    key = f"crash-{uuid.uuid4()}"
    request_id = str(keyed_request_id("council", key))

    # The gateway dies mid-call: the council gets no answer, and nothing reached Kafka.
    with pytest.raises(httpx.TransportError):
        council.submit("it", "account-setup", quantity=1, headers={"Idempotency-Key": key})
    assert gateway_dies_after_claiming.wait(30) == -9
    assert await submitted_events(platform.bootstrap, request_id) == []

    # The council retries once the gateway is back: the key is pending, so the same event goes out now.
    platform.start("gateway")
    platform.await_health(platform.url, "gateway")
    retried = council.submit("it", "account-setup", quantity=1, headers={"Idempotency-Key": key})
    assert retried.status_code == 202, retried.text
    assert retried.json()["request_id"] == request_id
    assert council.await_status(request_id, "submitted")["request_type"] == "account-setup"

    # A further retry answers the same and publishes nothing more: the key is published.
    again = council.submit("it", "account-setup", quantity=1, headers={"Idempotency-Key": key})
    assert (again.status_code, again.json()["request_id"]) == (202, request_id)
    submitted = await submitted_events(platform.bootstrap, request_id)
    assert len(submitted) == 1 and submitted[0].id == ids.derived(f"submit/{request_id}")


async def test_a_shared_cost_under_one_key_is_recorded_once_and_another_body_is_a_409(platform, as_):
    finance = as_("dev-finance").http
    key = {"Idempotency-Key": f"cost-{uuid.uuid4()}"}
    cost = {"service": "it", "description": "Network contract", "amount": "1200.00", "period": "2026-03",
            "basis": "staff"}
    first, second = (finance.post("/v1/finance/shared-costs", json=cost, headers=key) for _ in range(2))
    assert first.status_code == second.status_code == 202, (first.text, second.text)
    assert first.json() == second.json()

    changed = finance.post("/v1/finance/shared-costs", json={**cost, "amount": "1300.00"}, headers=key)
    assert changed.status_code == 409, changed.text
    assert changed.json()["error"] == {"code": "idempotency_conflict", "cost_id": first.json()["cost_id"],
                                       "message": "this Idempotency-Key was used with a different body"}
    recorded = [e for e in events_of(await read_all(platform.bootstrap, SHARED_COSTS))
                if e.data["cost_id"] == first.json()["cost_id"]]
    assert [e.data["amount"] for e in recorded] == ["1200.00"]
