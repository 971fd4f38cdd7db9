"""The gateway decides "today" by the clock it is given: the real gateway app, in process, on the real
broker, on dates of the test's choosing."""

import uuid
from datetime import UTC, datetime

import httpx
import pytest

from services.gateway.app import create_app
from shared.settings import Settings
from tests.e2e.kafka_reading import submitted_events


class SetClock:
    """A clock that reads whatever the test last set."""

    def __init__(self):
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def clock():
    return SetClock()


@pytest.fixture(scope="module")
async def gateway(kafka_bootstrap, tmp_path_factory, clock):
    settings = Settings(kafka_bootstrap=kafka_bootstrap, state_dir=tmp_path_factory.mktemp("gateway"),
                        gateway_group=f"test-gateway-{uuid.uuid4().hex[:8]}")
    app = create_app(settings, clock)
    async with app.router.lifespan_context(app):  # the producer and the read model, as in the process
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gateway") as client:
            yield client


async def submit_on(gateway, clock, day: datetime, token: str):
    """A laptop request, sent as `token` with the clock set to `day`."""
    clock.now = day
    body = {"service": "it", "type": "laptop-provision", "priority": "P3", "description": "Laptop for a new starter",
            "cost_centre": "CC-100", "quantity": 1}
    return await gateway.post("/v1/requests", json=body, headers={"Authorization": f"Bearer {token}"})


async def test_the_police_may_submit_from_the_day_they_join(gateway, clock, kafka_bootstrap):
    # On 31 March 2027 the police are not a tenant yet.
    refused = await submit_on(gateway, clock, datetime(2027, 3, 31, 23, 59, tzinfo=UTC), "dev-police")
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "tenant_inactive"
    assert "2027-03-31" in refused.json()["error"]["message"]
    # On 1 April 2027 they are.
    joined = datetime(2027, 4, 1, 0, 0, 1, tzinfo=UTC)
    accepted = await submit_on(gateway, clock, joined, "dev-police")
    assert accepted.status_code == 202, accepted.text
    # The request is stamped with the gateway's clock too.
    [event] = await submitted_events(kafka_bootstrap, accepted.json()["request_id"])
    assert (event.tenant, datetime.fromisoformat(event.data["submitted_at"])) == ("police", joined)


async def test_the_pct_may_submit_until_it_is_abolished(gateway, clock):
    # The PCT was a tenant in 2012, up to and including 31 March 2013; from April 2013 it is not.
    for day in (datetime(2012, 6, 15, 9, tzinfo=UTC), datetime(2013, 3, 31, 23, 59, tzinfo=UTC)):
        accepted = await submit_on(gateway, clock, day, "dev-pct")
        assert accepted.status_code == 202, (day, accepted.text)
    for day in (datetime(2013, 4, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)):
        refused = await submit_on(gateway, clock, day, "dev-pct")
        assert refused.status_code == 403, (day, refused.text)
        assert refused.json()["error"]["code"] == "tenant_inactive"
