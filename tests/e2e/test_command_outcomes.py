"""Accepted means applied: every command has one owner, the request's worker, and an outcome the
caller can read at its Location or wait for; the README's own example works pasted as one block."""

import json
import re
import subprocess
import time

from tests.e2e.platform import ROOT


def readme_block(marker: str) -> str:
    """The README's shell block containing `marker`, exactly as a reader would copy it."""
    blocks = re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    [block] = [b for b in blocks if marker in b]
    return block


def test_the_readme_transition_block_pasted_as_one_block_completes_the_request(platform):
    block = readme_block("asc-new-starters")
    run = subprocess.run(["bash", "-c", block], capture_output=True, text=True, timeout=120,
                         env={**platform.env, "HPS_API_URL": platform.url})
    assert run.returncode == 0, run.stderr
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    # The request as the council reads it, the three decisions, the history, then the incident's 202.
    shown, accept, start, complete, history = (json.loads(line) for line in lines[:5])
    assert shown["status"] == "submitted" and shown["tenant"] == "council", shown
    for answer, status in ((accept, "accepted"), (start, "in_progress"), (complete, "completed")):
        assert answer["state"] == "applied" and answer["result"]["status"] == status, answer
        assert answer["requested_by"] == "IT service desk"
    assert complete["result"]["amount"] == "1700.00" and complete["result"]["charge_period"] == "2026-10"
    assert [(h["action"], h["status"], h["actor"]) for h in history] == [
        ("submit", "submitted", "Council service desk"), ("accept", "accepted", "IT service desk"),
        ("start", "in_progress", "IT service desk"), ("complete", "completed", "IT service desk")]
    assert "HTTP/1.1 202" in run.stdout and "location: /v1/commands/" in run.stdout.lower()


def test_transitions_sent_at_once_after_submitting_are_all_applied_in_order(as_):
    # Nobody waits for the read model: the worker, not a possibly stale view, decides each one.
    council, staff = as_("dev-council"), as_("dev-staff-it")
    request_id = council.submit("it", "account-setup", quantity=3).json()["request_id"]
    answers = [staff.move(request_id, action, **fields)
               for action, fields in (("accept", {}), ("start", {}), ("complete", {"quantity": 3}))]
    assert [a.status_code for a in answers] == [202, 202, 202], [a.text for a in answers]
    outcome = staff.http.get(answers[-1].headers["location"], params={"wait": "10"}).json()
    assert outcome["state"] == "applied" and outcome["result"]["status"] == "completed", outcome
    assert outcome["result"]["amount"] == "135.00"


def test_a_refused_command_is_readable_at_its_location_and_in_the_history(as_):
    council, staff = as_("dev-council"), as_("dev-staff-it")
    request_id = council.submit("it", "laptop-provision", quantity=1).json()["request_id"]
    council.await_status(request_id, "submitted")
    accepted = staff.move(request_id, "start")
    assert accepted.status_code == 202, accepted.text
    command_id, location = accepted.json()["command_id"], accepted.headers["location"]
    assert accepted.json()["state"] == "pending" and location == f"/v1/commands/{command_id}"

    outcome = staff.http.get(location, params={"wait": "10s"}).json()
    assert outcome["state"] == "refused", outcome
    assert outcome["error"] == {"code": "illegal_transition", "status": "submitted", "allowed": ["accept", "reject"],
                                "message": "cannot start a request that is submitted; allowed: accept, reject"}
    assert outcome["requested_by"] == "IT service desk" and outcome["decided_at"] is not None
    # The requester reads it too; another tenant's partner cannot.
    assert council.http.get(location).json()["state"] == "refused"
    assert as_("dev-hospital").http.get(location).status_code == 404
    [submitted, refused] = council.http.get(f"/v1/requests/{request_id}/history").json()
    assert (submitted["outcome"], submitted["action"], submitted["actor"]) == ("applied", "submit",
                                                                                 "Council service desk")
    assert (refused["outcome"], refused["action"], refused["actor"], refused["status"], refused["command_id"]) == \
        ("refused", "start", "IT service desk", "submitted", command_id)


def test_waiting_answers_with_the_final_outcome_either_way(as_):
    council, staff = as_("dev-council"), as_("dev-staff-it")
    submitted = council.http.post("/v1/requests", params={"wait": "10"}, json={
        "service": "it", "type": "incident", "description": "Printer jam", "cost_centre": "CC-1", "hours": "1"})
    assert submitted.status_code == 200 and submitted.json()["result"]["status"] == "submitted", submitted.text
    request_id = submitted.json()["request_id"]

    started = time.monotonic()
    applied = staff.http.post(f"/v1/requests/{request_id}/transitions", json={"action": "accept"},
                              headers={"Prefer": "wait=10"})
    assert applied.status_code == 200, applied.text
    assert applied.json()["result"]["status"] == "accepted" and applied.headers["preference-applied"] == "wait"
    assert time.monotonic() - started < 10  # answered on the decision, not at the end of the wait

    refused = staff.move(request_id, "complete", wait=10, hours="1")  # accepted, not started: the worker's 409
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["allowed"] == ["start", "reject"]
    assert refused.json()["error"]["location"] == f"/v1/commands/{refused.json()['error']['command_id']}"

    invalid = staff.move(request_id, "start", wait=None, period="2026-10")
    assert invalid.status_code == 422 and invalid.json()["error"]["field"] == "action"


def test_a_request_nobody_submitted_is_not_found_and_a_bad_wait_is_a_422(as_):
    staff = as_("dev-staff-it")
    missing = staff.move("00000000-0000-4000-8000-000000000000", "accept")
    assert missing.status_code == 404, missing.text
    assert staff.http.get("/v1/commands/00000000-0000-4000-8000-000000000000").status_code == 404
    request_id = as_("dev-council").submit("it", "account-setup", quantity=1).json()["request_id"]
    bad = staff.http.post(f"/v1/requests/{request_id}/transitions", params={"wait": "soon"}, json={"action": "accept"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "wait", bad.text
