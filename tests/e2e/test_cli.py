"""The `hps` command as people use it from a shell, against the running platform."""

import json
import subprocess
import sys
import time

from tests.e2e.platform import ROOT


def hps(platform, *args, token: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "services.cli.main", *args], cwd=ROOT, capture_output=True,
                          text=True, env={**platform.env, "HPS_TOKEN": token}, timeout=120)


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
    assert refused.returncode == 1 and "allowed now: accept, reject" in refused.stderr

    accepted = hps(platform, "requests", "transition", request["request_id"], "accept", token="dev-staff-it")
    assert accepted.returncode == 0 and json.loads(accepted.stdout)["from_status"] == "submitted"

    hidden = hps(platform, "requests", "show", request["request_id"], token="dev-hospital")
    assert hidden.returncode == 1 and "404" in hidden.stderr


def test_bad_input_from_the_shell_is_a_clear_error(platform):
    result = hps(platform, "submit", "--service", "it", "--type", "incident", "--description", "Printer",
                 "--cost-centre", "ASC-100", "--quantity", "2", token="dev-council")
    assert result.returncode == 1 and "hours: required by the time_and_materials price" in result.stderr
    result = hps(platform, "requests", "list", token="not-a-token")
    assert result.returncode == 1 and "401" in result.stderr


def test_ops_reads_the_tail_and_the_lag_from_the_shell(platform, as_):
    as_("dev-ccg").submit("finance", "new-supplier", quantity=1)
    as_("dev-hospital").submit("finance", "new-supplier", quantity=1)
    tail = hps(platform, "ops", "tail", "--tenant", "ccg", "--no-follow", token="dev-ops")
    assert tail.returncode == 0 and "uk.hps.finance.request.submitted" in tail.stdout
    assert all(" ccg " in line for line in tail.stdout.splitlines())
    deadline = time.monotonic() + 30
    while "hps-finance " not in (lag := hps(platform, "ops", "lag", token="dev-ops")).stdout:
        assert lag.returncode == 0 and time.monotonic() < deadline, lag.stdout + lag.stderr
        time.sleep(1)  # the lag is read from the broker every few seconds
    assert hps(platform, "ops", "lag", token="dev-council").returncode == 1
