"""Finance commands through the API: each answers 202 with where its outcome is read, or, asked to
wait, the outcome itself; what the ledger's database already knows is refused at once; credits,
withdrawals and re-bases, corrections that keep the unit price, and successors for late entries."""

import json
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
from sqlalchemy import create_engine, text

from shared import ids
from shared.events import EventCodec
from shared.tenants import Registry
from shared.topics import CHARGES
from tests.e2e.platform import ROOT, await_draft

codec = EventCodec(Registry.load())


def a_charge(tenant: str, period: str, amount: str, quantity: str = "1", **extra):
    unit_price = extra.pop("unit_price", amount)
    return codec.build("uk.hps.finance.charge.recorded", "/hps/it", tenant, {
        "charge_id": str(uuid.uuid4()), "service": "it", "request_type": "incident", "quantity": quantity,
        "unit_price": unit_price, "amount": amount, "cost_centre": "CC-9", "period": period,
        "description": "Printer fault", **extra})


async def send(platform, event) -> None:
    key, value, headers = codec.encode(event, event.tenant)
    await platform.produce(CHARGES, value, key, headers)


def lines(statement: dict) -> list[dict]:
    return [x for g in statement["direct_charges"] for x in g["lines"]] + statement["shared_costs"] + \
        statement["corrections"] + statement["prior_period_adjustments"]


@contextmanager
def ledger_held(postgres_url: str):
    """The ledger's writers' lock, taken: the recharge engine waits for it, the finance API answers."""
    db = create_engine(postgres_url)
    holder = db.connect()
    held = holder.begin()
    try:
        holder.execute(text("SELECT id FROM ledger_control WHERE id = 1 FOR UPDATE"))
        yield held
    finally:
        if held.is_active:
            held.rollback()
        holder.close()
        db.dispose()


def cost(period: str, amount: str = "1200.00", basis: str = "staff", **extra) -> dict:
    return {"service": "it", "description": f"Network, {period}", "amount": amount, "period": period, "basis": basis,
            **extra}


def test_a_shared_cost_answers_where_its_outcome_is_and_waits_for_it_when_asked(platform, as_):
    finance = as_("dev-finance").http
    accepted = finance.post("/v1/finance/shared-costs", json=cost("2038-01"))
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert body["state"] == "pending" and body["kind"] == "shared_cost"
    assert body["location"] == f"/v1/finance/commands/{body['command_id']}"
    # Long poll: once known, always 200, with what was posted.
    outcome = finance.get(body["location"], params={"wait": "20"})
    assert outcome.status_code == 200 and outcome.json()["state"] == "applied", outcome.text
    assert outcome.json()["posted"] == {"cost_id": body["cost_id"], "basis": "staff", "amount": "1200.00"}
    assert outcome.json()["requested_by"] and outcome.json()["applied_at"]
    # Asked to wait (?wait=N, or Prefer: wait=N), the answer is the outcome: 200 and the applied command.
    waited = finance.post("/v1/finance/shared-costs", params={"wait": "20"}, json=cost("2038-01", "10.00"))
    assert waited.status_code == 200 and waited.json()["state"] == "applied", waited.text
    assert waited.json()["posted"]["cost_id"] == waited.json()["cost_id"]
    ledger = httpx.Client(base_url=f"http://127.0.0.1:{platform.finance_port}",
                          headers={"Authorization": "Bearer dev-finance"}, timeout=30)
    preferred = ledger.post("/v1/finance/shared-costs", headers={"Prefer": "wait=20"}, json=cost("2038-01", "20.00"))
    assert preferred.status_code == 200 and preferred.json()["state"] == "applied", preferred.text
    assert preferred.headers["Preference-Applied"] == "wait"
    assert preferred.headers["Location"] == preferred.json()["location"]
    not_waited = ledger.post("/v1/finance/shared-costs", json=cost("2038-01", "30.00"))
    assert not_waited.status_code == 202 and not_waited.headers["Location"] == not_waited.json()["location"]
    # Outcomes are for finance and ops (a partner reads only its own disputes'); an id never published is a 404.
    assert as_("dev-ops").http.get(body["location"]).json()["state"] == "applied"
    assert as_("dev-council").http.get(body["location"]).status_code == 404
    assert as_("dev-staff-it").http.get(body["location"]).status_code == 403
    unknown = finance.get(f"/v1/finance/commands/{uuid.uuid4()}", params={"wait": "1"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    assert finance.get("/v1/finance/commands/not-an-id").status_code == 422


def test_what_the_ledger_cannot_take_is_refused_at_once(as_):
    finance = as_("dev-finance").http
    # A closed month in which nobody used procurement: a usage-based cost cannot be split.
    period = "2038-02"
    assert finance.post(f"/v1/finance/periods/{period}/close").status_code == 200
    before = finance.get(f"/v1/finance/periods/{period}").json()
    refused = finance.post("/v1/finance/shared-costs", json={**cost(period, basis="usage"), "service": "procurement"})
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert (error["code"], error["field"]) == ("cannot_apportion", "basis")
    assert "basis usage cannot apportion this cost in 2038-02" in error["message"]
    assert "no tenant used the service in 2038-02" in error["message"]
    # A credit needs a reason; £0.00 is no cost; a service must be one of the unit's; a month needs partners.
    for body, field in ((cost("2038-03", "-50.00"), "reason"), (cost("2038-03", "0.00"), "amount"),
                        ({**cost("2038-03"), "service": "legal"}, "service"), (cost("2005-01"), "period")):
        answer = finance.post("/v1/finance/shared-costs", json=body)
        assert answer.status_code == 422 and answer.json()["error"]["field"] == field, answer.text
    # An Idempotency-Key is for one body: the same again is the same command; another body is a 409.
    key = {"Idempotency-Key": f"network-{uuid.uuid4()}"}
    first = finance.post("/v1/finance/shared-costs", json=cost("2038-03"), headers=key, params={"wait": "20"})
    again = finance.post("/v1/finance/shared-costs", json=cost("2038-03"), headers=key)
    assert first.status_code == 200 and again.status_code in (200, 202), again.text
    assert (again.json()["command_id"], again.json()["cost_id"]) == (first.json()["command_id"], first.json()["cost_id"])
    other = finance.post("/v1/finance/shared-costs", json=cost("2038-03", "999.00"), headers=key)
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict", other.text
    assert finance.get(f"/v1/finance/periods/{period}").json() == before
    assert finance.get("/v1/finance/periods/2038-03").json()["shared_costs"] == 1


def test_a_credit_is_shared_and_shown_as_a_credit(as_):
    finance = as_("dev-finance").http
    credit = finance.post("/v1/finance/shared-costs", params={"wait": "20"}, json=cost(
        "2038-04", "-400.00", "fixed", reason="Licence refund from the supplier"))
    assert credit.status_code == 200 and credit.json()["state"] == "applied", credit.text
    council = await_draft(finance, "2038-04", "council")
    [line] = council["shared_costs"]
    assert (line["cost_id"], line["share"], line["credit"], line["reason"]) == \
        (credit.json()["cost_id"], "-180.00", True, "Licence refund from the supplier")  # 45% since the police joined
    assert council["totals"]["total"] == "-180.00"


async def test_corrections_keep_the_unit_price_and_say_when_an_amount_was_set_by_hand(platform, as_):
    finance = as_("dev-finance").http
    period = "2038-05"
    incident = a_charge("council", period, "165.00", quantity="3", unit_price="55.00")
    await send(platform, incident)
    await_draft(finance, period, "council", lambda d: d["direct_charges"])
    charge_id = incident.data["charge_id"]
    # £100 for the three hours is no whole-penny hourly rate: the rate stays and the amount is set by hand.
    corrected = finance.post("/v1/finance/corrections", params={"wait": "20"}, json={
        "charge_id": charge_id, "amount": "100.00", "reason": "Agreed fee for the call-out"})
    assert corrected.status_code == 200, corrected.text
    posted = corrected.json()["posted"]
    assert (posted["quantity"], posted["unit_price"], posted["amount"], posted["amount_set_by_hand"]) == \
        ("3", "55.00", "100.00", True)
    council = await_draft(finance, period, "council")
    by_hand = next(x for x in council["corrections"] if x["charge_id"] == corrected.json()["charge_id"])
    assert by_hand["amount_set_by_hand"] and "amount set by hand" in by_hand["note"]
    assert council["prior_period_adjustments"] == [] and council["totals"]["corrections"] == "-65.00"
    # The correction is the charge to correct now: two hours at the same rate.
    again = finance.post("/v1/finance/corrections", params={"wait": "20"}, json={
        "charge_id": corrected.json()["charge_id"], "quantity": "2", "reason": "Two hours, not three"})
    assert again.status_code == 200, again.text
    assert (again.json()["posted"]["amount"], again.json()["posted"]["amount_set_by_hand"]) == ("110.00", False)
    # A charge corrected already is refused at once, naming the correction to correct instead.
    twice = finance.post("/v1/finance/corrections", json={"charge_id": charge_id, "amount": "1.00", "reason": "x"})
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_corrected", twice.text
    assert twice.json()["error"]["corrected_by"] == corrected.json()["charge_id"]
    # Neither amount nor quantity: nothing to correct to.
    assert finance.post("/v1/finance/corrections", json={"charge_id": charge_id, "reason": "x"}).status_code == 422


async def test_a_second_correction_while_the_first_is_pending_is_refused_too(platform, as_):
    finance = as_("dev-finance").http
    charge = a_charge("hospital", "2038-06", "45.00")
    await send(platform, charge)
    await_draft(finance, "2038-06", "hospital", lambda d: d["direct_charges"])
    body = {"charge_id": charge.data["charge_id"], "amount": "40.00", "reason": "Discount"}
    first = finance.post("/v1/finance/corrections", json=body)
    second = finance.post("/v1/finance/corrections", json={**body, "amount": "35.00"})
    assert first.status_code == 202 and second.status_code == 409, second.text
    assert second.json()["error"]["code"] == "already_corrected"
    assert second.json()["error"]["corrected_by"] == first.json()["charge_id"]


async def test_a_refusal_by_the_ledger_is_the_answer_to_a_caller_who_waits(platform, as_, postgres_url):
    finance = as_("dev-finance").http
    period = "2038-07"
    original = a_charge("council", period, "80.00")
    await send(platform, original)
    await_draft(finance, period, "council", lambda d: d["direct_charges"])
    key = f"fix-{uuid.uuid4()}"
    command_id = str(ids.derived(f"event/{ids.derived(f'correction/{key}')}"))
    # The ledger is held, and another correction of the charge reaches it first, straight from the
    # topic: the API cannot know of it yet, so it takes its own.
    with ledger_held(postgres_url) as held:
        await send(platform, a_charge("council", period, "70.00", kind="correction",
                                      corrects=original.data["charge_id"]))
        with ThreadPoolExecutor(1) as pool, httpx.Client(base_url=platform.url, timeout=60, headers={
                "Authorization": "Bearer dev-finance", "Idempotency-Key": key}) as caller:
            waiting = pool.submit(caller.post, "/v1/finance/corrections", params={"wait": "25"}, json={
                "charge_id": original.data["charge_id"], "amount": "60.00", "reason": "Discount"})
            deadline = time.monotonic() + 20
            while (seen := finance.get(f"/v1/finance/commands/{command_id}", params={"wait": "1"})).status_code == 404:
                assert time.monotonic() < deadline, "the command was not recorded"
                time.sleep(0.1)
            # Asked while the ledger is held, the outcome is pending, after the wait asked for.
            assert seen.status_code == 200 and seen.json()["state"] == "pending", seen.text
            held.rollback()  # the ledger goes on
            answer = waiting.result(timeout=60)
    # The caller who waited is told the ledger's refusal, with its status and where to read it.
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["command_id"], error["location"]) == \
        ("already_corrected", command_id, f"/v1/finance/commands/{command_id}")
    read = finance.get(f"/v1/finance/commands/{command_id}", params={"wait": "5"})
    assert read.status_code == 200 and read.json()["state"] == "refused"
    assert read.json()["error"]["corrected_by"] == error["corrected_by"]


def test_a_cost_is_withdrawn_before_the_ledger_has_applied_it(as_, postgres_url):
    finance = as_("dev-finance").http
    period = "2038-09"
    with ledger_held(postgres_url):
        recorded = finance.post("/v1/finance/shared-costs", json=cost(period, "75.00"))
        assert recorded.status_code == 202, recorded.text
        path = f"/v1/finance/shared-costs/{recorded.json()['cost_id']}/withdraw"
        # Known only as a pending command, the cost can be withdrawn: the ledger takes both in order.
        key, body = {"Idempotency-Key": f"withdraw-{uuid.uuid4()}"}, {"reason": "Entered by mistake"}
        first = finance.post(path, json=body, headers=key)
        assert first.status_code == 202 and first.json()["state"] == "pending", first.text
        retried = finance.post(path, json=body, headers=key)  # the same command, asked again
        assert retried.status_code == 202 and retried.json()["command_id"] == first.json()["command_id"]
        other = finance.post(path, json={"reason": "Another go"})  # a second withdrawal, while one is pending
        assert other.status_code == 409 and other.json()["error"]["code"] == "already_withdrawn", other.text
        assert other.json()["error"]["command_id"] == first.json()["command_id"]
    for location in (recorded.json()["location"], first.json()["location"]):
        outcome = finance.get(location, params={"wait": "20"})
        assert outcome.status_code == 200 and outcome.json()["state"] == "applied", outcome.text
    assert await_draft(finance, period, "council")["shared_costs"] == []


def test_withdraw_and_rebasis(as_):
    finance = as_("dev-finance").http
    period = "2038-08"
    recorded = finance.post("/v1/finance/shared-costs", params={"wait": "20"}, json=cost(period, "900.00", "sites"))
    cost_id = recorded.json()["cost_id"]
    path = f"/v1/finance/shared-costs/{cost_id}"
    # Only finance; the same basis again is no re-basis.
    assert as_("dev-ops").http.post(f"{path}/withdraw", json={"reason": "x"}).status_code == 403
    same = finance.post(f"{path}/rebasis", json={"basis": "sites", "reason": "x"})
    assert same.status_code == 422 and same.json()["error"]["field"] == "basis"
    rebased = finance.post(f"{path}/rebasis", params={"wait": "20"}, json={"basis": "staff", "reason": "By head count"})
    assert rebased.status_code == 200 and rebased.json()["state"] == "applied", rebased.text
    replacement = rebased.json()["replacement_id"]
    assert rebased.json()["posted"]["replacement"] == {"cost_id": replacement, "basis": "staff", "amount": "900.00"}
    council = await_draft(finance, period, "council")
    assert [(x["cost_id"], x["basis"]) for x in council["shared_costs"]] == [(replacement, "staff")]
    # Withdrawn already: 409; a cost never recorded: 404.
    twice = finance.post(f"{path}/withdraw", json={"reason": "again"})
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_withdrawn", twice.text
    assert twice.json()["error"]["replacement_id"] == replacement
    unknown = finance.post(f"/v1/finance/shared-costs/{uuid.uuid4()}/withdraw", json={"reason": "x"})
    assert unknown.status_code == 404
    # The replacement is a cost like any other: withdrawn, nothing of it is left to share.
    gone = finance.post(f"/v1/finance/shared-costs/{replacement}/withdraw", params={"wait": "20"},
                        json={"reason": "Cancelled"})
    assert gone.status_code == 200 and gone.json()["state"] == "applied", gone.text
    assert await_draft(finance, period, "council")["shared_costs"] == []
    closed = finance.post(f"/v1/finance/periods/{period}/close")
    assert closed.status_code == 200 and {s["total"] for s in closed.json()["statements"]} == {"0.00"}


async def test_a_late_pct_charge_after_the_succession_is_on_the_ccgs_statement(platform, as_):
    finance = as_("dev-finance").http
    march = finance.post("/v1/finance/periods/2013-03/close")
    assert march.status_code == 200 and "pct" in {s["tenant"] for s in march.json()["statements"]}
    late = a_charge("pct", "2013-03", "45.00")
    await send(platform, late)
    ccg = await_draft(finance, "2013-04", "ccg", lambda d: d["prior_period_adjustments"])
    [line] = ccg["prior_period_adjustments"]
    assert (line["charge_id"], line["on_behalf_of"], line["original_period"]) == \
        (late.data["charge_id"], "pct", "2013-03")
    april = finance.post("/v1/finance/periods/2013-04/close")
    assert april.status_code == 200, april.text
    assert {s["tenant"] for s in april.json()["statements"]} == {"council", "ccg", "hospital"}
    assert next(s for s in april.json()["statements"] if s["tenant"] == "ccg")["total"] == "45.00"


def hps(platform, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "services.cli.main", "finance", *args], cwd=ROOT, capture_output=True,
                          text=True, env={**platform.env, "HPS_TOKEN": "dev-finance"}, timeout=120)


def test_the_month_end_from_the_shell_shows_blockers_and_what_to_do(platform):
    period = "2038-10"
    recorded = hps(platform, "shared-cost", "--service", "procurement", "--description", "Tender portal",
                   "--amount", "250.00", "--period", period, "--basis", "usage", "--wait", "20")
    assert recorded.returncode == 0, recorded.stderr
    cost_id = json.loads(recorded.stdout)["cost_id"]
    assert json.loads(recorded.stdout)["state"] == "applied"
    # The preview drafts the statements and says what stops the close, and how to clear it.
    preview = hps(platform, "preview", period)
    assert preview.returncode == 0, preview.stderr
    assert f"BLOCKED {cost_id}" in preview.stdout and "no tenant used the service in 2038-10" in preview.stdout
    assert f"hps finance rebasis {cost_id} --basis BASIS" in preview.stdout
    assert len([line for line in preview.stdout.splitlines() if " draft " in line]) == 4
    blocked = hps(platform, "close", period)
    assert blocked.returncode == 4 and "period_blocked" in blocked.stderr and f"BLOCKED {cost_id}" in blocked.stdout
    # Re-based by head count, the cost is shared and the period closes.
    rebased = hps(platform, "rebasis", cost_id, "--basis", "staff", "--reason", "By head count", "--wait", "20")
    assert rebased.returncode == 0 and json.loads(rebased.stdout)["state"] == "applied", rebased.stderr
    shown = hps(platform, "command", json.loads(rebased.stdout)["command_id"])
    assert json.loads(shown.stdout)["posted"]["replacement"]["basis"] == "staff"
    assert "BLOCKED" not in hps(platform, "preview", period).stdout
    closed = hps(platform, "close", period)
    assert closed.returncode == 0 and closed.stdout.count(f"HPS-{period.replace('-', '')}-") == 4, closed.stderr
    # A withdrawal of a cost withdrawn already is refused, with the reason, and the shell exits 4 (refused).
    again = hps(platform, "withdraw", cost_id, "--reason", "again")
    assert again.returncode == 4 and "already_withdrawn" in again.stderr
