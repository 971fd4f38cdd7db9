"""The audit trail of a month's work through the gateway: every command — submission, transitions,
an approval, a payroll run, a shared cost, a correction, the close, a dead letter's replay — and a
failed sign-in, each with actor, tenant, time, source address, outcome and reason; finance reads
it all, a partner its own tenant's, `hps audit` prints it."""

import asyncio
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx

from tests.e2e.platform import ROOT, Client, await_draft
from tests.e2e.test_finance_api import charged, completed_charge
from tests.e2e.test_kafka_outage import dead_letter

PERIOD = "2039-02"


def entries(client: Client, **params) -> list[dict]:
    """Every entry the caller may read, all pages."""
    found, cursor = [], None
    while True:
        page = client.http.get("/v1/audit", params={**params, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        found += page.json()["items"]
        if not (cursor := page.json()["next_cursor"]):
            return found


def test_every_command_of_a_month_is_in_the_audit_trail(platform, as_):
    since = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    finance, council, budget = as_("dev-finance"), as_("dev-council"), as_("dev-council-budget")
    # Submission and transitions, to a charge; an order that waits for the budget holder, approved.
    charge_id = completed_charge(as_, PERIOD)
    large = council.submit("procurement", "purchase-order", value="15000.00").json()["request_id"]
    council.await_status(large, "awaiting_approval")
    assert budget.move(large, "approve").status_code == 202
    # Finance: a payroll run, a shared cost, a correction, and the close.
    assert finance.http.post("/v1/payroll/runs", json={"period": PERIOD}).status_code == 202
    cost = finance.http.post("/v1/finance/shared-costs", params={"wait": "20"}, json={
        "service": "it", "description": "WAN contract", "amount": "1200.00", "period": PERIOD, "basis": "sites"})
    assert cost.status_code == 200, cost.text
    await_draft(finance.http, PERIOD, "council", lambda d: charged(d, charge_id))
    corrected = finance.http.post("/v1/finance/corrections", params={"wait": "20"}, json={
        "charge_id": charge_id, "amount": "800.00", "reason": "Returned damaged; replaced at a discount"})
    assert corrected.status_code == 200, corrected.text
    assert finance.http.post(f"/v1/finance/periods/{PERIOD}/close").status_code == 200
    # Operations replays a dead letter.
    letter_id, _ = asyncio.run(dead_letter(platform.bootstrap, "2039-03"))
    deadline = time.monotonic() + 30
    while (replayed := as_("dev-ops").http.post(f"/v1/ops/dead-letters/{letter_id}/replay")).status_code == 404:
        assert time.monotonic() < deadline, replayed.text
        time.sleep(0.3)
    assert replayed.status_code == 200, replayed.text
    # And someone tries a token nobody issued.
    assert httpx.get(f"{platform.url}/v1/requests", headers={"Authorization": "Bearer stolen"}).status_code == 401

    trail = entries(finance, since=since)
    by_action = {}
    for e in trail:
        by_action.setdefault(e["action"], []).append(e)
        assert e["at"] >= since[:19] and e["source"] == "127.0.0.1" and e["outcome"] in ("accepted", "refused"), e
    expected = {  # action: (actor, tenant, outcome)
        "POST /v1/requests": ("Council service desk", "council", "accepted"),
        "POST /v1/requests/{request_id}/transitions accept": ("IT service desk", None, "accepted"),
        "POST /v1/requests/{request_id}/transitions complete": ("IT service desk", None, "accepted"),
        "POST /v1/requests/{request_id}/transitions approve": ("Council budget holder", "council", "accepted"),
        "POST /v1/payroll/runs": ("Shared unit finance", None, "accepted"),
        "POST /v1/finance/shared-costs": ("Shared unit finance", None, "accepted"),
        "POST /v1/finance/corrections": ("Shared unit finance", None, "accepted"),
        "POST /v1/finance/periods/{period}/close": ("Shared unit finance", None, "accepted"),
        "POST /v1/ops/dead-letters/{letter_id}/replay": ("Operations", None, "accepted"),
        "GET /v1/requests": ("anonymous", None, "refused"),
    }
    for action, (actor, tenant, outcome) in expected.items():
        assert any((e["actor"], e["tenant"], e["outcome"]) == (actor, tenant, outcome) for e in by_action.get(action, [])), \
            (action, by_action.get(action))
    [close] = by_action["POST /v1/finance/periods/{period}/close"]
    assert (close["subject"], close["status"], close["service"]) == (PERIOD, 200, "finance-ledger")
    [correction] = [e for e in by_action["POST /v1/finance/corrections"] if e["reason"]]
    assert correction["reason"] == "Returned damaged; replaced at a discount"
    [failed] = [e for e in by_action["GET /v1/requests"] if e["status"] == 401]
    assert failed["reason"] and "unknown" in failed["reason"]
    approval = by_action["POST /v1/requests/{request_id}/transitions approve"][-1]
    assert approval["subject"] == large and approval["role"] == "partner"

    # A partner reads its own tenant's entries, whatever it asks for; staff read none.
    assert {e["tenant"] for e in entries(as_("dev-ccg"), since=since, tenant="council")} <= {"ccg"}
    own = entries(council, since=since)
    assert own and {e["tenant"] for e in own} == {"council"}
    assert as_("dev-staff-it").http.get("/v1/audit").status_code == 403

    shown = subprocess.run([sys.executable, "-m", "services.cli.main", "audit", "--since", since, "--action",
                            "POST /v1/finance/periods", "--all"], cwd=ROOT, capture_output=True, text=True,
                           env={**platform.env, "HPS_TOKEN": "dev-finance"}, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "Shared unit finance" in shown.stdout and f"/close  {PERIOD}" in shown.stdout, shown.stdout
