"""Bad input gets a clear JSON error naming the field or the rule, and creates nothing."""

import uuid

import httpx
import pytest

from shared import ids
from shared.topics import SERVICES, requests_topic
from tests.e2e.kafka_reading import read_all


def keyed_request_id(tenant: str, key: str) -> uuid.UUID:
    """The request an Idempotency-Key names (as the gateway derives it)."""
    return ids.derived(f"request/{tenant}/{key}")


async def published_about(platform, request_id: uuid.UUID, services=SERVICES) -> list:
    """What the services' request topics carry about `request_id` (the message key, or in the event)."""
    wanted = str(request_id).encode()
    messages = await read_all(platform.bootstrap, *(requests_topic(s) for s in services))
    return [m for m in messages if m.key == wanted or wanted in m.value]


async def assert_nothing_published(platform, tenant: str, key: str) -> None:
    """No service was asked anything about the request `key` would have made. The gateway publishes
    before it answers, so anything it published is on the topics by now."""
    request_id = keyed_request_id(tenant, key)
    assert await published_about(platform, request_id) == [], f"a refused submission published {request_id}"


@pytest.mark.parametrize("body, status, field", [
    ({"service": "legal", "type": "x", "description": "d", "cost_centre": "CC-1", "quantity": 1}, 422, "service"),
    ({"service": "it", "type": "teleporter", "description": "d", "cost_centre": "CC-1", "quantity": 1}, 422, "type"),
    ({"service": "it", "type": "incident", "description": "d", "cost_centre": "CC-1", "quantity": 1}, 422, "hours"),
    ({"service": "it", "type": "laptop-provision", "description": "d", "cost_centre": "CC-1", "quantity": -2}, 422, "quantity"),
    ({"service": "it", "type": "laptop-provision", "description": "d", "cost_centre": "CC-1"}, 422, "quantity"),
    ({"service": "procurement", "type": "tender", "description": "d", "cost_centre": "CC-1", "value": "1e12"}, 422, "value"),
    ({"service": "it", "type": "laptop-provision", "description": "", "cost_centre": "CC-1", "quantity": 1}, 422, "description"),
    ({"service": "it", "type": "laptop-provision", "description": "d", "cost_centre": "CC-1", "quantity": 1,
      "priority": "P9"}, 422, "priority"),
    ({"service": "it", "type": "laptop-provision", "description": "d", "cost_centre": "CC-1", "quantity": 1,
      "tenant": "hospital"}, 403, "tenant"),
    ({"service": "hr", "type": "payroll", "description": "d", "cost_centre": "CC-1", "quantity": 1}, 422, "type"),
])
async def test_a_bad_submission_names_the_field_and_creates_nothing(platform, as_, body, status, field):
    council = as_("dev-council")
    key = f"bad-{uuid.uuid4()}"
    response = council.http.post("/v1/requests", json=body, headers={"Idempotency-Key": key})
    assert response.status_code == status, response.text
    assert response.json()["error"]["field"] == field
    await assert_nothing_published(platform, "council", key)
    # The refusal did not take the key: a good submission with it is the request the key names.
    retried = council.submit("it", "account-setup", quantity=1, headers={"Idempotency-Key": key})
    assert retried.status_code == 202, retried.text
    assert retried.json()["request_id"] == str(keyed_request_id("council", key))
    # ... and now the IT service has been asked, once: the search above would have seen it.
    assert len(await published_about(platform, keyed_request_id("council", key), ["it"])) == 1


def test_malformed_json_is_a_400(platform):
    response = httpx.post(f"{platform.url}/v1/requests", content=b"{not json",
                          headers={"Authorization": "Bearer dev-council", "Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_json"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer stolen"}, {"Authorization": "Basic abc"}])
def test_no_valid_token_is_a_401(platform, headers):
    response = httpx.get(f"{platform.url}/v1/requests", headers=headers)
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


def test_roles_that_do_not_submit_get_a_403(as_):
    for token in ("dev-ops", "dev-finance", "dev-staff-it"):
        response = as_(token).submit("it", "laptop-provision", quantity=1)
        assert response.status_code == 403 and "partner" in response.json()["error"]["message"]


async def test_a_tenant_that_has_left_cannot_submit(platform, as_):
    # The PCT's tenancy ended on 2013-03-31 (whether a date falls in a tenancy is tested with a fixed clock).
    key = f"pct-{uuid.uuid4()}"
    response = as_("dev-pct").submit("it", "laptop-provision", quantity=1, headers={"Idempotency-Key": key})
    assert response.status_code == 403 and response.json()["error"]["code"] == "tenant_inactive", response.text
    await assert_nothing_published(platform, "pct", key)


def test_an_unknown_request_id_is_a_404_and_a_bad_one_a_422(as_):
    assert as_("dev-council").get("3f0c7f3e-0000-4000-8000-000000000000").status_code == 404
    assert as_("dev-council").get("not-a-uuid").status_code == 422


def test_a_bad_cursor_is_a_422(as_):
    response = as_("dev-council").http.get("/v1/requests", params={"cursor": "garbage"})
    assert response.status_code == 422 and response.json()["error"]["field"] == "cursor"
