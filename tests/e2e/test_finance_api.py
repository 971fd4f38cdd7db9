"""Finance through the API and the shell: corrections, previews scoped to who asks, sealed statements,
and a ledger that dead-letters what it cannot post and goes on."""

import hashlib
import json
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from uuid import uuid5

from services.finance.ledger.statements import canonical
from shared.events import EventCodec
from shared.request_engine import lifecycle
from shared.tenants import Registry
from shared.topics import CHARGES, DEAD_LETTERS
from tests.e2e.kafka_reading import read_until
from tests.e2e.platform import ROOT

codec = EventCodec(Registry.load())


def completed_charge(as_, period: str, quantity: int = 1) -> str:
    """The council's laptop request, delivered and charged to `period`; returns the charge id."""
    council, staff = as_("dev-council"), as_("dev-staff-it")
    request_id = council.submit("it", "laptop-provision", quantity=quantity).json()["request_id"]
    council.await_status(request_id, "submitted")
    for action, status, extra in (("accept", "accepted", {}), ("start", "in_progress", {}),
                                  ("complete", "completed", {"quantity": quantity, "period": period})):
        assert staff.move(request_id, action, **extra).status_code == 202
        staff.await_status(request_id, status)
    return str(uuid5(lifecycle.NAMESPACE, f"charge/{request_id}"))


def await_preview(as_, period: str, tenant: str, holds, timeout_s: float = 30) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        response = as_("dev-finance").http.get(f"/v1/finance/periods/{period}/preview", params={"tenant": tenant})
        assert response.status_code == 200, response.text
        [draft] = response.json()
        if holds(draft):
            return draft
        assert time.monotonic() < deadline, f"{period} {tenant}: not as expected after {timeout_s}s: {draft}"
        time.sleep(0.3)


def charged(draft: dict, charge_id: str) -> bool:
    return any(x["charge_id"] == charge_id for g in draft["direct_charges"] for x in g["lines"])


def adjustments(draft: dict) -> list[tuple[str, Decimal]]:
    return sorted((x["type"], Decimal(x["amount"])) for x in draft["prior_period_adjustments"])


def assert_corrected(draft: dict, charge_id: str, original: str, corrected: str) -> None:
    """The original charge stands, reversed and charged again at the corrected amount: the tenant owes that."""
    [line] = [Decimal(x["amount"]) for g in draft["direct_charges"] for x in g["lines"] if x["charge_id"] == charge_id]
    assert line == Decimal(original)
    assert adjustments(draft) == [("charge", Decimal(corrected)), ("reversal", -Decimal(original))]
    assert line + sum(amount for _, amount in adjustments(draft)) == Decimal(corrected)
    assert Decimal(draft["totals"]["total"]) == Decimal(corrected)  # the period holds nothing else of the council's


def test_finance_corrects_a_charge_with_a_reversal_and_a_new_entry(as_):
    period = "2025-03"
    charge_id = completed_charge(as_, period)
    await_preview(as_, period, "council", lambda d: charged(d, charge_id))
    # Finance finds the laptop was one of a returned batch: the charge should have been £800.
    response = as_("dev-finance").http.post("/v1/finance/corrections", json={
        "charge_id": charge_id, "amount": "800.00", "reason": "Returned damaged; replaced at a discount"})
    assert response.status_code == 202, response.text
    assert response.json()["corrects"] == charge_id
    draft = await_preview(as_, period, "council", lambda d: d["prior_period_adjustments"])
    assert_corrected(draft, charge_id, "850.00", "800.00")

    # A second correction of the same charge is refused at once, naming the charge to correct instead.
    again = as_("dev-finance").http.post("/v1/finance/corrections", json={
        "charge_id": charge_id, "amount": "750.00", "reason": "A further discount"})
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "already_corrected"
    assert again.json()["error"]["corrected_by"] == response.json()["charge_id"]
    assert_corrected(await_preview(as_, period, "council", lambda d: True), charge_id, "850.00", "800.00")


def test_only_finance_corrects_and_only_a_charge_that_exists(as_):
    body = {"charge_id": str(uuid.uuid4()), "amount": "1.00", "reason": "no such charge"}
    unknown = as_("dev-finance").http.post("/v1/finance/corrections", json=body)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    for token in ("dev-council", "dev-staff-it", "dev-ops"):
        assert as_(token).http.post("/v1/finance/corrections", json=body).status_code == 403


def test_finance_corrects_a_charge_from_the_shell(platform, as_):
    period = "2025-04"
    charge_id = completed_charge(as_, period, quantity=2)
    await_preview(as_, period, "council", lambda d: charged(d, charge_id))
    shell = subprocess.run([sys.executable, "-m", "services.cli.main", "finance", "correct", charge_id,
                            "--amount", "850.00", "--reason", "One laptop was not delivered"], cwd=ROOT,
                           capture_output=True, text=True, env={**platform.env, "HPS_TOKEN": "dev-finance"}, timeout=60)
    assert shell.returncode == 0, shell.stderr
    assert json.loads(shell.stdout)["corrects"] == charge_id
    draft = await_preview(as_, period, "council", lambda d: d["prior_period_adjustments"])
    assert_corrected(draft, charge_id, "1700.00", "850.00")


def ok(client, path: str, **params):
    response = client.http.get(path, params=params)
    assert response.status_code == 200, (path, response.text)
    return response.json()


def test_previews_and_statements_are_scoped_to_who_asks(as_):
    period = "2025-03"
    preview = f"/v1/finance/periods/{period}/preview"
    # Finance and ops see every tenant.
    everyone = ok(as_("dev-finance"), preview)
    assert [d["tenant"]["code"] for d in everyone] == ["ccg", "council", "hospital"]
    assert ok(as_("dev-ops"), preview) == everyone
    assert ok(as_("dev-ops"), "/v1/finance/statements") == ok(as_("dev-finance"), "/v1/finance/statements")
    # A partner sees its own draft, whatever tenant it asks for.
    for asked in ({}, {"tenant": "hospital"}):
        assert [d["tenant"]["code"] for d in ok(as_("dev-council"), preview, **asked)] == ["council"]
    # Staff work queues; statements are not theirs.
    staff = as_("dev-staff-finance").http
    for path in (preview, "/v1/finance/statements", "/v1/finance/statements/HPS-202503-00001"):
        response = staff.get(path)
        assert response.status_code == 403, (path, response.text)


def test_issued_statements_are_sealed_with_their_content_and_numbered_without_gaps(as_):
    period = "2025-02"
    charge_id = completed_charge(as_, period)
    await_preview(as_, period, "council", lambda d: charged(d, charge_id))
    closed = as_("dev-finance").http.post(f"/v1/finance/periods/{period}/close")
    assert closed.status_code == 200, closed.text
    numbers = [s["number"] for s in closed.json()["statements"]]
    sequences = [int(n.rsplit("-", 1)[1]) for n in numbers]
    assert sequences == list(range(sequences[0], sequences[0] + len(numbers))) and len(numbers) == 3
    for number in numbers:
        response = as_("dev-finance").http.get(f"/v1/finance/statements/{number}")
        assert response.status_code == 200, response.text
        statement = response.json()
        content = {k: v for k, v in statement.items() if k != "content_sha256"}
        assert statement["content_sha256"] == hashlib.sha256(canonical(content).encode()).hexdigest(), \
            f"{number} is not sealed with its content"
        # Ops reads the same statement; staff read none.
        assert as_("dev-ops").http.get(f"/v1/finance/statements/{number}").json() == statement
        assert as_("dev-staff-finance").http.get(f"/v1/finance/statements/{number}").status_code == 403


async def test_the_ledger_dead_letters_what_it_cannot_post_and_goes_on(platform, as_):
    def a_charge(amount: str, id=None):
        return codec.build("uk.hps.finance.charge.recorded", "/hps/it", "hospital", {
            "charge_id": str(uuid.uuid4()), "service": "it", "request_type": "account-setup", "quantity": "1",
            "unit_price": amount, "amount": amount, "cost_centre": "WARD-7", "period": "2025-05",
            "description": "Account set-up"}, id=id)

    def send(event):
        key, value, headers = codec.encode(event, event.tenant)
        return platform.produce(CHARGES, value, key, headers)

    first = a_charge("45.00")
    await send(first)
    await_preview(as_, "2025-05", "hospital", lambda d: charged(d, first.data["charge_id"]))
    # The same event id again with another amount, and a message that is no event at all.
    at = await send(first.model_copy(update={"data": {**first.data, "amount": "4500.00",
                                                             "unit_price": "4500.00"}}))
    garbage = f"not an event {uuid.uuid4()}".encode()
    await platform.produce(CHARGES, garbage, b"hospital")
    later = a_charge("12.00")
    await send(later)

    def source(headers) -> tuple[int, int]:
        return int(headers["hps_dlq_partition"]), int(headers["hps_dlq_offset"])

    def letters(messages):
        return {m.value: dict(m.headers) for m in messages if dict(m.headers).get("hps_dlq_topic") == CHARGES.encode()}

    found = letters(await read_until(platform.bootstrap, DEAD_LETTERS, lambda ms: garbage in letters(ms)
                                     and any(source(h) == at for h in letters(ms).values())))
    [reused] = [h for h in found.values() if source(h) == at]
    assert b"applied before with different content" in reused["hps_dlq_reason"]
    assert b"not JSON" in found[garbage]["hps_dlq_reason"]
    # The ledger went on: the later charge is posted, the first one still at its first amount.
    draft = await_preview(as_, "2025-05", "hospital", lambda d: charged(d, later.data["charge_id"]))
    amounts = {x["charge_id"]: Decimal(x["amount"]) for g in draft["direct_charges"] for x in g["lines"]}
    assert amounts[first.data["charge_id"]] == Decimal("45.00")


def test_a_shared_cost_its_basis_cannot_split_blocks_the_month_end_with_a_409_that_says_why(as_):
    # Finance records a usage-based cost for a month in which nobody used the service.
    finance = as_("dev-finance").http
    period = "2035-08"
    recorded = finance.post("/v1/finance/shared-costs", json={"service": "procurement", "description": "Portal",
                                                              "amount": "90.00", "period": period, "basis": "usage"})
    assert recorded.status_code == 202, recorded.text
    deadline = time.monotonic() + 30
    while finance.get(f"/v1/finance/periods/{period}").json()["shared_costs"] != 1:
        assert time.monotonic() < deadline, "the ledger did not record the cost"
        time.sleep(0.3)
    for method, path in (("GET", "preview"), ("GET", "reconciliation"), ("POST", "close")):
        answer = finance.request(method, f"/v1/finance/periods/{period}/{path}")
        assert answer.status_code == 409, (path, answer.text)
        error = answer.json()["error"]
        assert error["code"] == "cannot_apportion" and recorded.json()["cost_id"] in error["message"]
        assert "no tenant used the service in 2035-08" in error["message"]
    assert finance.get(f"/v1/finance/periods/{period}").json()["status"] == "open"
