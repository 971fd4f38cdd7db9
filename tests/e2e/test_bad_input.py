"""Bad input gets a clear JSON error naming the field or the rule, and creates nothing."""

import httpx
import pytest


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
def test_a_bad_submission_names_the_field_and_creates_nothing(as_, body, status, field):
    council = as_("dev-council")
    before = council.http.get("/v1/requests", params={"limit": 200}).json()["items"]
    response = council.http.post("/v1/requests", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["field"] == field
    after = council.http.get("/v1/requests", params={"limit": 200}).json()["items"]
    assert len(after) == len(before)


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


def test_a_tenant_that_has_not_joined_cannot_submit(as_):
    response = as_("dev-police").submit("it", "laptop-provision", quantity=1)
    assert response.status_code == 403 and response.json()["error"]["code"] == "tenant_inactive"


def test_an_unknown_request_id_is_a_404_and_a_bad_one_a_422(as_):
    assert as_("dev-council").get("3f0c7f3e-0000-4000-8000-000000000000").status_code == 404
    assert as_("dev-council").get("not-a-uuid").status_code == 422


def test_a_bad_cursor_is_a_422(as_):
    response = as_("dev-council").http.get("/v1/requests", params={"cursor": "garbage"})
    assert response.status_code == 422 and response.json()["error"]["field"] == "cursor"
