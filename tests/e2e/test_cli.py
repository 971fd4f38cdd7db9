"""The `hps` command as people use it from a shell, against the running platform."""

import json
import shlex
import socket
import subprocess
import sys
import time
from importlib.metadata import version

from services.cli.client import NOT_FOUND, OK, REFUSED, UNAVAILABLE
from shared.topics import SERVICES
from tests.e2e.kafka_reading import read_all
from tests.e2e.platform import ROOT, requests_for_the_tail


def hps(platform, *args, token: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "services.cli.main", *args], cwd=ROOT, capture_output=True,
                          text=True, env={**platform.env, "HPS_TOKEN": token, **env}, timeout=120)


def test_a_partner_submits_and_staff_work_the_request_from_the_shell(platform):
    submitted = hps(platform, "submit", "--service", "it", "--type", "laptop-provision", "--priority", "P2",
                    "--description", "Laptop for a new social worker", "--cost-centre", "ASC-100", "--quantity", "1",
                    token="dev-council")
    assert submitted.returncode == 0, submitted.stderr
    request = json.loads(submitted.stdout)
    assert request["status"] == "submitted" and request["tenant"] == "council"

    listing = hps(platform, "requests", "list", "--service", "it", token="dev-council")
    assert request["request_id"] in listing.stdout and "hospital" not in listing.stdout

    refused = hps(platform, "requests", "transition", request["request_id"], "complete", "--quantity", "1",
                  token="dev-staff-it")
    assert refused.returncode == REFUSED and "allowed now: accept, reject" in refused.stderr

    accepted = hps(platform, "requests", "transition", request["request_id"], "accept", token="dev-staff-it")
    assert accepted.returncode == 0 and json.loads(accepted.stdout)["status"] == "accepted", accepted.stderr
    history = hps(platform, "requests", "history", request["request_id"], token="dev-council")
    lines = history.stdout.splitlines()
    assert history.returncode == 0 and len(lines) == 3, history.stdout
    assert "submit" in lines[0] and "REFUSED (submitted)" in lines[1] and "IT service desk" in lines[1]
    assert "accept" in lines[2] and "accepted" in lines[2]

    hidden = hps(platform, "requests", "show", request["request_id"], token="dev-hospital")
    assert hidden.returncode == NOT_FOUND and "404" in hidden.stderr


def test_bad_input_from_the_shell_is_a_clear_error(platform):
    result = hps(platform, "submit", "--service", "it", "--type", "incident", "--description", "Printer",
                 "--cost-centre", "ASC-100", "--quantity", "2", token="dev-council")
    assert result.returncode == REFUSED and "hours: required by the time_and_materials price" in result.stderr
    result = hps(platform, "requests", "list", token="not-a-token")
    assert result.returncode == REFUSED and "401" in result.stderr


def tail_lines(platform, *filters: str) -> list[tuple[str, str, str, str, str]]:
    """`hps ops tail --no-follow` as (topic, tenant, service, type, subject) per line."""
    tail = hps(platform, "ops", "tail", *filters, "--no-follow", token="dev-ops")
    assert tail.returncode == 0, tail.stderr
    return [tuple((line.split() + [""])[1:6]) for line in tail.stdout.splitlines()]  # a subject may be empty


def await_in_tail(platform, wanted: set, timeout_s: float = 30) -> None:
    """Until the tail shows both the submission and the worker's change of each request in `wanted`."""
    deadline = time.monotonic() + timeout_s
    while True:
        seen = {(subject, type_.rsplit(".", 1)[-1]) for _, _, _, type_, subject in tail_lines(platform)}
        missing = {(r, what) for r in wanted for what in ("submitted", "changed")} - seen
        if not missing:
            return
        assert time.monotonic() < deadline, f"not in the ops tail after {timeout_s}s: {missing}"
        time.sleep(0.5)


def test_ops_reads_the_tail_and_the_lag_from_the_shell(platform, as_):
    ids = requests_for_the_tail(as_, "Tail check")
    # The observer follows the topics on its own: wait until it has seen all three.
    await_in_tail(platform, set(ids.values()))

    ccg = tail_lines(platform, "--tenant", "ccg")
    assert {line[1] for line in ccg} == {"ccg"}
    assert {ids["ccg finance"], ids["ccg it"]} <= {line[4] for line in ccg}
    assert ids["hospital finance"] not in {line[4] for line in ccg}

    ccg_finance = tail_lines(platform, "--tenant", "ccg", "--service", "finance")
    assert ccg_finance and {(line[1], line[2]) for line in ccg_finance} == {("ccg", "finance")}
    assert ids["ccg finance"] in {line[4] for line in ccg_finance}
    assert not {ids["ccg it"], ids["hospital finance"]} & {line[4] for line in ccg_finance}

    submissions = tail_lines(platform, "--tenant", "ccg", "--type", "request.submitted")
    assert {line[3] for line in submissions} <= {f"uk.hps.{s}.request.submitted" for s in SERVICES}
    assert {ids["ccg finance"], ids["ccg it"]} <= {line[4] for line in submissions}

    deadline = time.monotonic() + 30
    while "hps-finance " not in (lag := hps(platform, "ops", "lag", token="dev-ops")).stdout:
        assert lag.returncode == 0 and time.monotonic() < deadline, lag.stdout + lag.stderr
        time.sleep(1)  # the lag is read from the broker every few seconds
    refused = hps(platform, "ops", "lag", token="dev-council")
    assert refused.returncode == REFUSED and "403" in refused.stderr


def listed_ids(result: subprocess.CompletedProcess) -> list[str]:
    assert result.returncode == 0, result.stderr
    return [line.split()[0] for line in result.stdout.splitlines()]


def test_requests_list_all_follows_the_cursor_past_the_first_page(platform, as_):
    # More of the CCG's HR requests than one page (50) holds.
    ccg = as_("dev-ccg")
    mine = []
    for n in range(55):
        response = ccg.submit("hr", "payroll-change", quantity=1, description=f"Leaver {n}")
        assert response.status_code == 202, response.text
        mine.append(response.json()["request_id"])
    for request_id in mine:
        ccg.await_status(request_id, "submitted")

    first_page = listed_ids(hps(platform, "requests", "list", "--service", "hr", token="dev-ccg"))
    everything = listed_ids(hps(platform, "requests", "list", "--service", "hr", "--all", token="dev-ccg"))
    assert len(first_page) == 50 and everything[:50] == first_page
    assert len(everything) == len(set(everything)), "a request was listed on two pages"
    # Newest first: the last submitted comes first.
    assert [r for r in everything if r in set(mine)] == mine[::-1]
    api = ccg.http.get("/v1/requests", params={"service": "hr", "limit": 200})
    assert api.status_code == 200 and api.json()["next_cursor"] is None
    assert everything == [r["request_id"] for r in api.json()["items"]]


def test_a_rejection_from_the_shell_needs_a_reason(platform, as_):
    response = as_("dev-council").submit("it", "account-setup", quantity=1, description="Account for a duplicate")
    assert response.status_code == 202, response.text
    request_id = response.json()["request_id"]
    as_("dev-council").await_status(request_id, "submitted")

    refused = hps(platform, "requests", "transition", request_id, "reject", token="dev-staff-it")
    assert refused.returncode == REFUSED and "422" in refused.stderr and "a rejection needs a reason" in refused.stderr

    reason = "Duplicate of an earlier request"
    rejected = hps(platform, "requests", "transition", request_id, "reject", "--reason", reason, token="dev-staff-it")
    assert rejected.returncode == 0, rejected.stderr
    assert as_("dev-council").await_status(request_id, "rejected")["status_reason"] == reason


async def test_payroll_is_run_by_hr_staff_and_refused_to_it_staff_from_the_shell(platform):
    refused = hps(platform, "payroll", "run", "2024-05", token="dev-staff-it")
    assert refused.returncode == REFUSED
    assert "403" in refused.stderr and "payroll runs are started by finance or HR staff" in refused.stderr
    ran = hps(platform, "payroll", "run", "2024-05", token="dev-staff-hr")
    assert ran.returncode == 0, ran.stderr
    charged = [line.split() for line in ran.stdout.splitlines()]
    assert [line[0] for line in charged] == ["council", "ccg", "hospital"], ran.stdout
    assert charged[0][1:5] == ["3900", "payslips", "£", "25350.00"]  # 3,900 payslips at £6.50, HR's answer
    # Both answers came after anything was published: HR was asked by its own staff, never by IT.
    runs = [json.loads(m.value)["data"] for m in await read_all(platform.bootstrap, "hr.requests")
            if b"payroll.run-requested" in m.value]
    assert {r["requested_by"] for r in runs if r["period"] == "2024-05"} == {"HR shared service"}
    assert "IT service desk" not in {r["requested_by"] for r in runs}


def test_the_shell_says_its_version_and_exits_by_the_kind_of_failure(platform):
    shown = hps(platform, "--version", token="dev-council")
    assert shown.returncode == OK and shown.stdout.strip() == f"hps {version('hps-back-office')}"

    missing = hps(platform, "requests", "history", "00000000-0000-4000-8000-000000000000", token="dev-council")
    assert missing.returncode == NOT_FOUND and "404 not_found" in missing.stderr
    forbidden = hps(platform, "audit", token="dev-staff-it")
    assert forbidden.returncode == REFUSED and "403" in forbidden.stderr

    with socket.socket() as s:  # a port nothing listens on once it is closed
        s.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{s.getsockname()[1]}"
    down = hps(platform, "requests", "list", token="dev-council", HPS_API_URL=nowhere)
    assert down.returncode == UNAVAILABLE and "no answer from the platform" in down.stderr


def test_output_json_is_the_apis_answer_and_a_table_names_the_next_page(platform, as_):
    # The hospital asks IT for three accounts.
    hospital = as_("dev-hospital")
    ids = [hospital.submit("it", "account-setup", quantity=1, description=f"Account {n}").json()["request_id"]
           for n in range(3)]
    for request_id in ids:
        hospital.await_status(request_id, "submitted")

    listing = hps(platform, "requests", "list", "--service", "it", "--output", "json", token="dev-hospital")
    page = json.loads(listing.stdout)
    assert listing.returncode == OK and set(ids) <= {r["request_id"] for r in page["items"]}
    history = json.loads(hps(platform, "requests", "history", ids[0], "-o", "json", token="dev-hospital").stdout)
    assert history[0]["action"] == "submit"

    # Two to a page: the table ends with the command that reads the next one, same filters.
    first = hps(platform, "requests", "list", "--service", "it", "--limit", "2", token="dev-hospital")
    assert first.returncode == OK and len(first.stdout.splitlines()) == 2
    more = first.stderr.strip()
    assert more.startswith("more: hps requests list --service it --limit 2 --cursor "), first.stderr
    second = hps(platform, *shlex.split(more)[2:], token="dev-hospital")
    assert listed_ids(second)[0] not in listed_ids(first)
    assert "more:" not in hps(platform, "requests", "list", "--service", "it", "--limit", "2", "-o", "json",
                              token="dev-hospital").stderr


def test_wait_gives_the_outcome_or_says_where_it_will_be(platform):
    # Waited for, the outcome itself: applied, in JSON with its command.
    args = ("submit", "--service", "it", "--type", "account-setup", "--description", "Account for a starter",
            "--cost-centre", "ASC-100", "--quantity", "1")
    applied = hps(platform, *args, "--wait", "10", "--output", "json", token="dev-council")
    outcome = json.loads(applied.stdout)
    assert applied.returncode == OK and outcome["state"] == "applied", applied.stderr
    # Not waited for: pending, and where to read it.
    pending = hps(platform, *args, "--wait", "0", token="dev-council")
    assert pending.returncode == OK and json.loads(pending.stdout)["state"] == "pending"
    assert "pending: its outcome will be at /v1/commands/" in pending.stderr
    # Refused once decided: exit 4, with the reason.
    refused = hps(platform, "requests", "transition", outcome["result"]["request_id"], "start", "--wait", "10",
                  token="dev-staff-it")
    assert refused.returncode == REFUSED and "allowed now: accept, reject" in refused.stderr
