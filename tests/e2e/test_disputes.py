"""Disputes end to end, through the gateway: the council disputes a charge on its issued statement and
the hospital its share of a shared cost; finance accepts the first (a credit note on the council's
next statement, naming the disputed line) and rejects the second; each step is an event on
finance.disputes and an entry in the audit trail, and each side sees the dispute and its answer."""

import asyncio
import json
import subprocess
import sys
from decimal import Decimal

from shared.events import EventCodec
from shared.tenants import Registry
from shared.topics import DISPUTES
from tests.e2e.kafka_reading import read_all
from tests.e2e.platform import ROOT, await_draft
from tests.e2e.test_finance_api import charged, completed_charge

PERIOD, NEXT = "2040-04", "2040-05"


def line_of(statement: dict, section: str, key: str, value: str) -> dict:
    lines = [x for g in statement[section] for x in g["lines"]] if section == "direct_charges" else statement[section]
    [found] = [x for x in lines if x.get(key) == value]
    return found


def test_a_dispute_is_answered_with_a_credit_note_on_the_next_statement_or_a_reason(platform, as_):
    finance, council, hospital = as_("dev-finance").http, as_("dev-council").http, as_("dev-hospital").http
    charge_id = completed_charge(as_, PERIOD, quantity=2)
    cost = finance.post("/v1/finance/shared-costs", params={"wait": 20}, json={
        "service": "it", "description": "Network contract", "amount": "9000.00", "period": PERIOD, "basis": "sites"})
    assert cost.status_code == 200, cost.text
    cost_id = cost.json()["cost_id"]
    await_draft(finance, PERIOD, "council", lambda d: charged(d, charge_id))
    closed = finance.post(f"/v1/finance/periods/{PERIOD}/close")
    assert closed.status_code == 200, closed.text
    numbers = {s["tenant"]: s["number"] for s in closed.json()["statements"]}
    totals = {s["tenant"]: s["total"] for s in closed.json()["statements"]}
    laptops = line_of(council.get(f"/v1/finance/statements/{numbers['council']}").json(), "direct_charges",
                      "charge_id", charge_id)

    # The council disputes its laptops; asked to wait, it hears the ledger has the dispute.
    raised = council.post("/v1/finance/disputes", params={"wait": 20}, json={
        "statement_number": numbers["council"], "line_id": charge_id, "reason": "Only one of the two laptops arrived"})
    assert raised.status_code == 200 and raised.json()["state"] == "applied", raised.text
    dispute_id = raised.json()["dispute_id"]
    # The partner reads its command's outcome where the 202 points; another partner cannot.
    assert council.get(raised.json()["location"]).json()["state"] == "applied"
    assert hospital.get(raised.json()["location"]).status_code == 404
    again = council.post("/v1/finance/disputes", json={
        "statement_number": numbers["council"], "line_id": charge_id, "reason": "Still only one"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_disputed", again.text
    not_ours = hospital.post("/v1/finance/disputes", json={
        "statement_number": numbers["council"], "line_id": charge_id, "reason": "Not ours"})
    assert not_ours.status_code == 404, not_ours.text
    # The hospital disputes its share of the network contract.
    share = line_of(hospital.get(f"/v1/finance/statements/{numbers['hospital']}").json(), "shared_costs", "cost_id",
                    cost_id)
    network = hospital.post("/v1/finance/disputes", params={"wait": 20}, json={
        "statement_number": numbers["hospital"], "line_id": cost_id, "reason": "We ran our own network"})
    assert network.status_code == 200, network.text

    # Each side sees its own: the council its dispute, open; the hospital not the council's.
    [mine] = [d for d in council.get("/v1/finance/disputes").json() if d["dispute_id"] == dispute_id]
    assert (mine["status"], mine["amount"], mine["line_id"]) == ("open", laptops["amount"], charge_id)
    assert hospital.get(f"/v1/finance/disputes/{dispute_id}").status_code == 404
    assert as_("dev-staff-it").http.get("/v1/finance/disputes").status_code == 403
    open_ = finance.get("/v1/finance/disputes", params={"status": "open", "period": PERIOD}).json()
    assert {d["dispute_id"] for d in open_} == {dispute_id, network.json()["dispute_id"]}

    # Finance credits one laptop and rejects the network dispute.
    credit = str(Decimal(laptops["amount"]) / 2)
    accepted = finance.post(f"/v1/finance/disputes/{dispute_id}/accept", params={"wait": 20},
                            json={"credit": credit, "reason": "One laptop was returned to stock"})
    assert accepted.status_code == 200 and accepted.json()["posted"]["answer"]["credited_on"] == NEXT, accepted.text
    rejected = hps(platform, "dev-finance", "reject", network.json()["dispute_id"], "--reason",
                   "The contract covers every site", "--wait", "20", "-o", "json")
    assert rejected.returncode == 0 and json.loads(rejected.stdout)["state"] == "applied", rejected.stderr
    twice = hps(platform, "dev-finance", "reject", dispute_id, "--reason", "Changed our mind")
    assert twice.returncode == 4 and "already_answered" in twice.stderr, twice.stderr  # refused
    answered = council.get(f"/v1/finance/disputes/{dispute_id}").json()
    assert (answered["status"], answered["answer"]["credit"], answered["answer"]["credited_on"]) == \
        ("accepted", credit, NEXT)
    theirs = json.loads(hps(platform, "dev-hospital", "list", "-o", "json").stdout)
    assert [d["answer"]["reason"] for d in theirs if d["dispute_id"] == network.json()["dispute_id"]] == \
        ["The contract covers every site"]

    # The issued statements are unchanged; the council's next one carries the credit note, naming the line.
    for tenant, number in numbers.items():
        assert finance.get(f"/v1/finance/statements/{number}").json()["totals"]["total"] == totals[tenant]
    next_council = await_draft(finance, NEXT, "council", lambda d: d["credit_notes"])
    [note] = next_council["credit_notes"]
    assert (note["amount"], note["disputed_statement"], note["disputed_line"]) == \
        (f"-{credit}", numbers["council"], charge_id)
    closed_next = finance.post(f"/v1/finance/periods/{NEXT}/close")
    assert closed_next.status_code == 200, closed_next.text
    [number] = [s["number"] for s in closed_next.json()["statements"] if s["tenant"] == "council"]
    statement = council.get(f"/v1/finance/statements/{number}").json()
    assert statement["credit_notes"] == [note] and statement["totals"]["credit_notes"] == f"-{credit}"
    csv = council.get(f"/v1/finance/statements/{number}", params={"format": "csv"}).text
    assert "credit note" in csv and charge_id in csv
    # The hospital's share stands: its dispute was rejected, and its next statement has no credit note.
    assert Decimal(share["share"]) > 0 and await_draft(finance, NEXT, "hospital")["credit_notes"] == []
    assert finance.get(f"/v1/finance/periods/{PERIOD}/reconciliation").json()["balanced"]

    # Every step is an event, and in the audit trail: the council sees finance's answer to it there.
    registry = Registry.load()
    events = EventCodec(registry)
    told = [events.decode(m.value) for m in asyncio.run(read_all(platform.bootstrap, DISPUTES))]
    steps = [e.type.rsplit(".", 1)[1] for e in told if e.data["dispute_id"] == dispute_id]
    assert steps == ["raised", "accepted"]
    audit = council.get("/v1/audit", params={"limit": 200}).json()["items"]
    actions = {(e["actor"], e["action"]) for e in audit}
    assert any(action.startswith("POST /v1/finance/disputes/{dispute_id}/accept") for _, action in actions), actions
    assert any(action == "POST /v1/finance/disputes" for _, action in actions), actions


def hps(platform, token: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "services.cli.main", "disputes", *args], cwd=ROOT, capture_output=True,
                          text=True, env={**platform.env, "HPS_TOKEN": token}, timeout=120)
