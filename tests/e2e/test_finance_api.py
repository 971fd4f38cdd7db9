"""Finance through the API and the shell: corrections, previews scoped to who asks, sealed statements,
a ledger that tells what it refuses and dead-letters only what is no event, and a month end that a
cost nobody used blocks until it is withdrawn."""

import hashlib
import json
import subprocess
import sys
import uuid
from decimal import Decimal

from services.finance.ledger.entries import refusal_id
from services.finance.ledger.statements import canonical
from shared import ids
from shared.events import EventCodec
from shared.tenants import Registry
from shared.topics import CHARGES, DEAD_LETTERS, FINANCE_REFUSALS
from tests.e2e.kafka_reading import events_of, read_all, read_until
from tests.e2e.platform import ROOT, await_draft

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
    return str(ids.derived(f"charge/{request_id}"))


def charged(draft: dict, charge_id: str) -> bool:
    return any(x["charge_id"] == charge_id for g in draft["direct_charges"] for x in g["lines"])


def corrections(draft: dict) -> list[tuple[str, Decimal]]:
    return sorted((x["type"], Decimal(x["amount"])) for x in draft["corrections"])


def assert_corrected(draft: dict, charge_id: str, original: str, corrected: str) -> None:
    """The original charge stands, reversed and charged again at the corrected amount: the tenant owes that.
    The period is still open, so these are its own corrections, not prior-period adjustments."""
    [line] = [Decimal(x["amount"]) for g in draft["direct_charges"] for x in g["lines"] if x["charge_id"] == charge_id]
    assert line == Decimal(original)
    assert corrections(draft) == [("charge", Decimal(corrected)), ("reversal", -Decimal(original))]
    assert draft["prior_period_adjustments"] == []
    assert Decimal(draft["totals"]["corrections"]) == Decimal(corrected) - Decimal(original)
    assert Decimal(draft["totals"]["total"]) == Decimal(corrected)  # the period holds nothing else of the council's


def test_finance_corrects_a_charge_with_a_reversal_and_a_new_entry(as_):
    period = "2025-03"
    charge_id = completed_charge(as_, period)
    await_draft(as_("dev-finance").http, period, "council", lambda d: charged(d, charge_id))
    # Finance finds the laptop was one of a returned batch: the charge should have been £800.
    response = as_("dev-finance").http.post("/v1/finance/corrections", json={
        "charge_id": charge_id, "amount": "800.00", "reason": "Returned damaged; replaced at a discount"})
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert (accepted["corrects"], accepted["state"]) == (charge_id, "pending")
    assert accepted["location"] == f"/v1/finance/commands/{accepted['command_id']}"
    # Its outcome: applied, with what was posted (one laptop at the new unit price).
    outcome = as_("dev-finance").http.get(accepted["location"], params={"wait": "20"})
    assert outcome.status_code == 200 and outcome.json()["state"] == "applied", outcome.text
    assert outcome.json()["posted"] == {"charge_id": accepted["charge_id"], "corrects": charge_id, "quantity": "1",
                                        "unit_price": "800.00", "amount": "800.00", "amount_set_by_hand": False}
    draft = await_draft(as_("dev-finance").http, period, "council", lambda d: d["corrections"])
    assert_corrected(draft, charge_id, "850.00", "800.00")

    # A second correction of the same charge is refused at once, naming the charge to correct instead.
    again = as_("dev-finance").http.post("/v1/finance/corrections", json={
        "charge_id": charge_id, "amount": "750.00", "reason": "A further discount"})
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "already_corrected"
    assert again.json()["error"]["corrected_by"] == response.json()["charge_id"]
    assert_corrected(await_draft(as_("dev-finance").http, period, "council", lambda d: True), charge_id, "850.00", "800.00")


def test_only_finance_corrects_and_only_a_charge_that_exists(as_):
    body = {"charge_id": str(uuid.uuid4()), "amount": "1.00", "reason": "no such charge"}
    unknown = as_("dev-finance").http.post("/v1/finance/corrections", json=body)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    for token in ("dev-council", "dev-staff-it", "dev-ops"):
        assert as_(token).http.post("/v1/finance/corrections", json=body).status_code == 403


def test_finance_corrects_a_charge_from_the_shell(platform, as_):
    period = "2025-04"
    charge_id = completed_charge(as_, period, quantity=2)
    await_draft(as_("dev-finance").http, period, "council", lambda d: charged(d, charge_id))
    # One of the two laptops was not delivered: the quantity alone, charged at the unit price.
    shell = subprocess.run([sys.executable, "-m", "services.cli.main", "finance", "correct", charge_id,
                            "--quantity", "1", "--reason", "One laptop was not delivered", "--wait", "20"], cwd=ROOT,
                           capture_output=True, text=True, env={**platform.env, "HPS_TOKEN": "dev-finance"}, timeout=60)
    assert shell.returncode == 0, shell.stderr
    answered = json.loads(shell.stdout)
    assert (answered["corrects"], answered["state"]) == (charge_id, "applied")
    assert (answered["posted"]["quantity"], answered["posted"]["unit_price"], answered["posted"]["amount"]) == \
        ("1", "850.00", "850.00")
    draft = await_draft(as_("dev-finance").http, period, "council", lambda d: d["corrections"])
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
    assert [d["tenant"]["code"] for d in everyone["statements"]] == ["ccg", "council", "hospital"]
    assert ok(as_("dev-ops"), preview) == everyone
    assert ok(as_("dev-ops"), "/v1/finance/statements") == ok(as_("dev-finance"), "/v1/finance/statements")
    # A partner sees its own draft, whatever tenant it asks for.
    for asked in ({}, {"tenant": "hospital"}):
        assert [d["tenant"]["code"] for d in ok(as_("dev-council"), preview, **asked)["statements"]] == ["council"]
    # Staff work queues; statements are not theirs.
    staff = as_("dev-staff-finance").http
    for path in (preview, "/v1/finance/statements", "/v1/finance/statements/HPS-202503-00001"):
        response = staff.get(path)
        assert response.status_code == 403, (path, response.text)


def test_issued_statements_are_sealed_with_their_content_and_numbered_without_gaps(as_):
    period = "2025-02"
    charge_id = completed_charge(as_, period)
    await_draft(as_("dev-finance").http, period, "council", lambda d: charged(d, charge_id))
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


async def test_the_ledger_tells_what_it_refuses_dead_letters_what_is_no_event_and_goes_on(platform, as_):
    def a_charge(amount: str, id=None, tenant="hospital"):
        return codec.build("uk.hps.finance.charge.recorded", "/hps/it", tenant, {
            "charge_id": str(uuid.uuid4()), "service": "it", "request_type": "account-setup", "quantity": "1",
            "unit_price": amount, "amount": amount, "cost_centre": "WARD-7", "period": "2025-05",
            "description": "Account set-up"}, id=id)

    def send(event):
        key, value, headers = codec.encode(event, event.tenant)
        return platform.produce(CHARGES, value, key, headers)

    first = a_charge("45.00")
    await send(first)
    await_draft(as_("dev-finance").http, "2025-05", "hospital", lambda d: charged(d, first.data["charge_id"]))
    # The same event id again with another amount, and a message that is no event at all.
    at = await send(first.model_copy(update={"data": {**first.data, "amount": "4500.00",
                                                             "unit_price": "4500.00"}}))
    garbage = f"not an event {uuid.uuid4()}".encode()
    await platform.produce(CHARGES, garbage, b"hospital")
    # A well-formed charge the ledger cannot post: the police are no tenant until April 2027.
    police = a_charge("30.00", tenant="police")
    refused_at = await send(police)
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
    # The refused charge is no dead letter: the ledger told its refusal, under an id derived from it.
    told = events_of(await read_until(platform.bootstrap, FINANCE_REFUSALS, lambda ms: any(
        e.data["command_id"] == str(police.id) for e in events_of(ms))))
    [refusal] = [e for e in told if e.data["command_id"] == str(police.id)]
    assert (refusal.id, refusal.tenant, refusal.data["code"], refusal.data["subject"]) == \
        (refusal_id(police.id), "police", "not_billable", police.data["charge_id"])
    assert "police is not a tenant until 2027-04-01" in refusal.data["reason"]
    # Finance and ops read it by the refused event's id.
    for token in ("dev-finance", "dev-ops"):
        read = as_(token).http.get(f"/v1/finance/commands/{police.id}")
        assert read.status_code == 200, read.text
        assert (read.json()["state"], read.json()["error"]["code"]) == ("refused", "not_billable")
    assert not any(source(h) == refused_at for h in letters(await read_all(platform.bootstrap, DEAD_LETTERS)).values())
    # The ledger went on: the later charge is posted, the first one still at its first amount.
    draft = await_draft(as_("dev-finance").http, "2025-05", "hospital", lambda d: charged(d, later.data["charge_id"]))
    amounts = {x["charge_id"]: Decimal(x["amount"]) for g in draft["direct_charges"] for x in g["lines"]}
    assert amounts[first.data["charge_id"]] == Decimal("45.00")


def test_a_cost_nobody_used_blocks_only_the_close_until_it_is_withdrawn(as_):
    # Finance records a usage-based cost for a month in which nobody used the service: the month is
    # open, usage may still come, so it is taken.
    finance = as_("dev-finance").http
    period = "2035-08"
    recorded = finance.post("/v1/finance/shared-costs", params={"wait": "20"}, json={
        "service": "procurement", "description": "Portal", "amount": "90.00", "period": period, "basis": "usage"})
    assert recorded.status_code == 200 and recorded.json()["state"] == "applied", recorded.text
    cost_id = recorded.json()["cost_id"]
    # The preview drafts the statements and names the blocker, why, and what to do; so does reconciliation.
    preview = finance.get(f"/v1/finance/periods/{period}/preview")
    assert preview.status_code == 200, preview.text
    assert [s["tenant"]["code"] for s in preview.json()["statements"]] == ["ccg", "council", "hospital", "police"]
    [blocker] = preview.json()["blockers"]
    assert (blocker["cost_id"], blocker["service"], blocker["description"], blocker["amount"], blocker["basis"]) == \
        (cost_id, "procurement", "Portal", "90.00", "usage")
    assert "no tenant used the service in 2035-08" in blocker["reason"]
    assert f"/v1/finance/shared-costs/{cost_id}/withdraw" in blocker["what_to_do"]
    assert {a["action"]: a["path"] for a in blocker["actions"]} == {
        "withdraw": f"/v1/finance/shared-costs/{cost_id}/withdraw",
        "rebasis": f"/v1/finance/shared-costs/{cost_id}/rebasis"}
    reconciliation = finance.get(f"/v1/finance/periods/{period}/reconciliation")
    assert reconciliation.status_code == 200, reconciliation.text
    assert reconciliation.json()["balanced"] is False and reconciliation.json()["blockers"] == [blocker]
    # The close is refused with the same list, and closes nothing.
    close = finance.post(f"/v1/finance/periods/{period}/close")
    assert close.status_code == 409, close.text
    assert close.json()["error"]["code"] == "period_blocked" and close.json()["error"]["blockers"] == [blocker]
    assert finance.get(f"/v1/finance/periods/{period}").json()["status"] == "open"
    # Finance withdraws it (and waits for the ledger); the close then goes through.
    withdrawn = finance.post(blocker["actions"][0]["path"], params={"wait": "20"},
                             json={"reason": "Nobody used the portal in August"})
    assert withdrawn.status_code == 200 and withdrawn.json()["state"] == "applied", withdrawn.text
    assert withdrawn.json()["posted"]["cost_id"] == cost_id
    assert finance.get(f"/v1/finance/periods/{period}/preview").json()["blockers"] == []
    closed = finance.post(f"/v1/finance/periods/{period}/close")
    assert closed.status_code == 200, closed.text
    assert {s["tenant"]: s["total"] for s in closed.json()["statements"]} == \
        {"ccg": "0.00", "council": "0.00", "hospital": "0.00", "police": "0.00"}
    assert finance.get(f"/v1/finance/periods/{period}/reconciliation").json()["balanced"] is True
