"""The partner API's reading side and its rules: pages, filters, rejections, the catalogue."""

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import yaml

from shared.catalogue import load_all
from shared.topics import SERVICES

ROOT = Path(__file__).resolve().parents[2]


def submit_all(partner, service: str, request_type: str, count: int, **measures) -> list[str]:
    """`count` requests of the partner's, in order, each once the service has registered it."""
    ids = []
    for n in range(count):
        response = partner.submit(service, request_type, description=f"{request_type} {n}", **measures)
        assert response.status_code == 202, response.text
        ids.append(response.json()["request_id"])
    for request_id in ids:
        partner.await_status(request_id, "submitted")
    return ids


def listing(client, **params) -> dict:
    response = client.http.get("/v1/requests", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def newest_first(items: list[dict]) -> bool:
    order = [(datetime.fromisoformat(r["submitted_at"]), r["request_id"]) for r in items]
    return order == sorted(order, reverse=True)


def test_pages_are_disjoint_newest_first_and_together_hold_every_request(as_):
    # The hospital orders seven items from Procurement, one after the other.
    hospital = as_("dev-hospital")
    mine = submit_all(hospital, "procurement", "purchase-order", 7, value="120.00")

    pages, cursor = [], None
    while True:
        page = listing(hospital, service="procurement", limit=3, **({"cursor": cursor} if cursor else {}))
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(page["items"]) == 3, "only the last page may be short"
        assert len(pages) < 50, "the cursor does not come to an end"
    paged = [r for page in pages for r in page]
    ids = [r["request_id"] for r in paged]

    assert len(ids) == len(set(ids)), "a request was on two pages"
    assert newest_first(paged)
    assert [r for r in ids if r in set(mine)] == mine[::-1]
    assert {(r["tenant"], r["service"]) for r in paged} == {("hospital", "procurement")}
    # Together the pages are everything one large page holds.
    whole = listing(hospital, service="procurement", limit=200)
    assert whole["next_cursor"] is None and [r["request_id"] for r in whole["items"]] == ids


def test_status_and_service_filters_return_only_what_matches(as_):
    # The council asks HR for two DBS checks and cancels one, and IT for an account.
    council = as_("dev-council")
    kept, cancelled = submit_all(council, "hr", "dbs-check", 2, quantity=1)
    (account,) = submit_all(council, "it", "account-setup", 1, quantity=1)
    assert council.move(cancelled, "cancel").status_code == 202
    council.await_status(cancelled, "cancelled")

    hr_cancelled = listing(council, service="hr", status="cancelled", limit=200)["items"]
    assert {(r["service"], r["status"]) for r in hr_cancelled} == {("hr", "cancelled")}
    assert cancelled in {r["request_id"] for r in hr_cancelled}
    assert kept not in {r["request_id"] for r in hr_cancelled}

    hr = listing(council, service="hr", limit=200)["items"]
    assert {r["service"] for r in hr} == {"hr"} and {kept, cancelled} <= {r["request_id"] for r in hr}
    assert account not in {r["request_id"] for r in hr}
    submitted = listing(council, status="submitted", limit=200)["items"]
    assert {r["status"] for r in submitted} == {"submitted"}
    assert {kept, account} <= {r["request_id"] for r in submitted}
    assert cancelled not in {r["request_id"] for r in submitted}

    # HR staff see their own queue and nothing of IT's, even when they ask for it.
    staff = as_("dev-staff-hr")
    queue = listing(staff, limit=200)["items"]
    assert {r["service"] for r in queue} == {"hr"} and {kept, cancelled} <= {r["request_id"] for r in queue}
    assert listing(staff, service="it", limit=200) == {"items": [], "next_cursor": None}

    unknown = council.http.get("/v1/requests", params={"status": "lost"})
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "status"


def test_a_rejection_needs_a_reason_and_keeps_it(as_):
    council, staff = as_("dev-council"), as_("dev-staff-it")
    (request_id,) = submit_all(council, "it", "laptop-provision", 1, quantity=1)

    refused = staff.move(request_id, "reject")
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "reason"
    assert council.get(request_id).json()["status"] == "submitted"

    reason = "Laptops for this team come from the council's own stock"
    accepted = staff.move(request_id, "reject", reason=reason)
    assert accepted.status_code == 202 and accepted.json()["state"] == "pending"
    assert accepted.headers["location"] == f"/v1/commands/{accepted.json()['command_id']}"
    rejected = council.await_status(request_id, "rejected")
    assert rejected["status_reason"] == reason


def shipped_or_override(service: str, override_dir: Path | None) -> dict:
    """The catalogue file the platform reads for `service`, as plain YAML."""
    override = override_dir / f"{service}.yaml" if override_dir else None
    path = override if override and override.exists() else ROOT / "services" / service / "catalogue.yaml"
    return yaml.safe_load(path.read_text())


def test_the_catalogue_lists_every_service_with_its_types_and_prices(platform, as_):
    override_dir = Path(platform.extra_env["HPS_CATALOGUE_DIR"])  # the platform's IT catalogue is its own
    for token in ("dev-council", "dev-staff-it", "dev-ops"):
        response = as_(token).http.get("/v1/catalogue")
        assert response.status_code == 200, response.text
        served = response.json()
        assert set(served) == set(SERVICES) == {"hr", "it", "procurement", "finance"}
        assert served == {name: c.model_dump(mode="json") for name, c in load_all(override_dir).items()}

    # Read against the files themselves: every request type, its price model and its figures.
    for service in SERVICES:
        source = shipped_or_override(service, override_dir)
        types = served[service]["request_types"]
        assert served[service]["name"] == source["name"] and set(types) == set(source["request_types"])
        for code, written in source["request_types"].items():
            price = types[code]["price"]
            assert types[code]["name"] == written["name"] and price["model"] == written["price"]["model"]
            for figure, amount in written["price"].items():
                if figure != "model":
                    assert Decimal(price[figure]) == Decimal(amount), f"{service} {code} {figure}"
            assert types[code]["recurring"] == written.get("recurring", False)
            if "approval_above" in written:
                assert Decimal(types[code]["approval_above"]) == Decimal(written["approval_above"])
    assert served["hr"]["request_types"]["payroll"]["price"] == {"model": "fixed", "unit_price": "6.50",
                                                                  "measure": "quantity"}
