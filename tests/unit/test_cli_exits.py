"""How `hps` exits: one code per kind of failure, whatever the command (services/cli/client.py)."""

import httpx
import pytest
from typer.testing import CliRunner

from services.cli import client
from services.cli.client import CHECK_FAILED, NOT_FOUND, OK, REFUSED, UNAVAILABLE, USAGE, ApiFailure, exit_code
from services.cli.main import app


def failure(status: int, **error) -> ApiFailure:
    return ApiFailure(status, {"error": {"code": "x", "message": "y", **error}})


@pytest.mark.parametrize("status, code", [(404, NOT_FOUND), (400, REFUSED), (401, REFUSED), (403, REFUSED),
                                          (409, REFUSED), (422, REFUSED), (429, REFUSED), (500, UNAVAILABLE),
                                          (502, UNAVAILABLE), (503, UNAVAILABLE)])
def test_an_api_failure_exits_by_its_status(status, code):
    assert exit_code(failure(status)) == code


def test_a_command_decided_against_is_refused_whatever_the_status_of_its_refusal():
    # The ledger refuses a correction of an unknown charge with a 404, naming the command's Location.
    assert exit_code(failure(404, location="/v1/finance/commands/c1")) == REFUSED


@pytest.mark.parametrize("error", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"),
                                   httpx.RemoteProtocolError("cut")])
def test_a_platform_that_does_not_answer_is_unavailable(error):
    assert exit_code(error) == UNAVAILABLE


def test_the_codes_are_distinct():
    assert len({OK, CHECK_FAILED, USAGE, NOT_FOUND, REFUSED, UNAVAILABLE}) == 6


def hps(monkeypatch, answer, *args: str):
    """`hps ARGS` against an API that answers each request with `answer(request)`."""
    transport = httpx.MockTransport(answer)
    monkeypatch.setattr(client.Api, "__post_init__",
                        lambda api: setattr(api, "http", httpx.Client(base_url=api.url, transport=transport)))
    monkeypatch.setenv("HPS_TOKEN", "dev-council")
    return CliRunner().invoke(app, list(args))


def test_every_command_exits_by_the_kind_of_its_failure(monkeypatch):
    for status, code in ((404, NOT_FOUND), (403, REFUSED), (503, UNAVAILABLE)):
        result = hps(monkeypatch, lambda r, s=status: httpx.Response(s, json={"error": {"code": "c", "message": "m"}}),
                     "requests", "show", "r1")
        assert result.exit_code == code and f"error: {status} c: m" in result.stderr
    # A proxy's own page, not JSON, is still a failure of its kind.
    result = hps(monkeypatch, lambda r: httpx.Response(502, text="<html>Bad gateway</html>"), "ops", "lag")
    assert result.exit_code == UNAVAILABLE and "Bad gateway" in result.stderr


def test_a_platform_not_listening_exits_5(monkeypatch):
    def refuse(request):
        raise httpx.ConnectError("connection refused", request=request)

    result = hps(monkeypatch, refuse, "audit")
    assert result.exit_code == UNAVAILABLE and "no answer from the platform" in result.stderr


def test_a_bad_argument_is_a_usage_error(monkeypatch):
    assert hps(monkeypatch, None, "finance", "statement", "HPS-1", "--format", "pdf").exit_code == USAGE
    assert hps(monkeypatch, None, "requests", "list", "--output", "yaml").exit_code == USAGE


def outcome(state: str, **more) -> dict:
    return {"command_id": "c1", "state": state, "location": "/v1/commands/c1", "result": None, "error": None, **more}


def test_a_command_exits_by_its_outcome(monkeypatch):
    asked = []

    def decide(state, status=200, **more):
        def answer(request):
            asked.append(request.url.params.get("wait"))
            return httpx.Response(status, json=outcome(state, **more))
        return answer

    applied = hps(monkeypatch, decide("applied", result={"request_id": "r1", "status": "accepted"}),
                  "requests", "transition", "r1", "accept", "--wait", "5")
    assert applied.exit_code == OK and '"status": "accepted"' in applied.stdout and asked[-1] == "5.000"
    # Still pending after the wait: where to read it later, and no failure.
    pending = hps(monkeypatch, decide("pending", 202), "finance", "withdraw", "k1", "--reason", "r", "--wait", "2")
    assert pending.exit_code == OK and "pending after 2s: its outcome will be at /v1/commands/c1" in pending.stderr
    # Without a wait, no ?wait at all.
    assert hps(monkeypatch, decide("pending", 202), "submit", "--service", "it", "--type", "t", "--description",
               "d", "--cost-centre", "C-1", "--wait", "0").exit_code == OK and asked[-1] is None
    # Read later, a refused outcome exits 4 with its reason.
    refused = hps(monkeypatch, decide("refused", error={"code": "already_withdrawn", "message": "withdrawn"}),
                  "finance", "command", "c1")
    assert refused.exit_code == REFUSED and "already_withdrawn" in refused.stderr


def test_a_refusal_after_waiting_exits_4_and_says_what_is_allowed(monkeypatch):
    refusal = {"error": {"code": "invalid_transition", "message": "no", "allowed": ["accept", "reject"],
                         "command_id": "c1", "location": "/v1/commands/c1"}}
    result = hps(monkeypatch, lambda r: httpx.Response(409, json=refusal), "requests", "transition", "r1", "complete")
    assert result.exit_code == REFUSED and "allowed now: accept, reject" in result.stderr
