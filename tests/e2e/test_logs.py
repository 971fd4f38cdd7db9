"""Each process logs JSON lines only, uvicorn's and the Kafka clients' included; a request's lines carry its
X-Request-ID and the caller's tenant, at the gateway and at the ledger the gateway passes it on to."""

import json

import pytest

from tests.e2e.platform import Client

LOGGING = ("gateway", "finance.ledger")


@pytest.fixture
def debug_logs(platform):
    """The gateway and the ledger started again at DEBUG, where each request is logged; the log files' sizes
    before, so that only what these processes write is read. As before afterwards."""
    def restart(names):
        for name in names:
            platform.stop(name)
        starts = {name: (platform.state_dir / f"{name}.log").stat().st_size for name in names}
        for name in names:
            platform.start(name)
        platform.await_health(platform.url, "gateway")
        platform.await_health(platform.health_url("finance.ledger"), "finance.ledger")
        return starts

    platform.extra_env["HPS_LOG_LEVEL"] = "DEBUG"
    try:
        yield restart(LOGGING)
    finally:
        del platform.extra_env["HPS_LOG_LEVEL"]
        restart(LOGGING)


def lines(platform, name: str, start: int) -> list[dict]:
    with open(platform.state_dir / f"{name}.log", "rb") as log:
        log.seek(start)
        return [json.loads(line) for line in log.read().splitlines()]  # a line that is not JSON fails here


def test_every_line_is_json_and_a_requests_lines_carry_its_id_and_tenant(platform, debug_logs):
    council = Client(platform.url, "dev-council")
    # The council submits a request, naming it abc123 for its own logs.
    submitted = council.submit("it", "account-setup", quantity=1, headers={"X-Request-ID": "abc123"})
    assert submitted.status_code == 202, submitted.text
    assert submitted.headers["x-request-id"] == "abc123"
    # It reads its statements, which the gateway passes on to the ledger, without an id: the gateway makes one.
    statements = council.http.get("/v1/finance/statements")
    assert statements.status_code == 200, statements.text
    made = statements.headers["x-request-id"]
    assert len(made) == 32 and made != "abc123"
    # An id that is not a plain short token is not taken.
    assert council.get(submitted.json()["request_id"]).headers["x-request-id"] != "abc123"
    refused = council.http.get("/v1/requests", headers={"X-Request-ID": "x" * 65})
    assert len(refused.headers["x-request-id"]) == 32

    gateway, ledger = (lines(platform, name, debug_logs[name]) for name in LOGGING)
    for line in gateway + ledger:
        assert {"level", "timestamp", "event"} <= line.keys(), line
    assert any(line.get("logger") == "uvicorn.error" and line["event"] == "Application startup complete."
               for line in gateway), "uvicorn's own lines are JSON too"
    assert {"event": "request", "request_id": "abc123", "tenant": "council", "actor": "Council service desk",
            "method": "POST", "route": "/v1/requests", "status": 202}.items() <= _one(gateway, "abc123").items()
    # The ledger's line of the passed-on request has the gateway's id, and the tenant the ledger resolved itself.
    assert {"request_id": made, "tenant": "council", "method": "GET",
            "status": 200}.items() <= _one(ledger, made).items()


def _one(log: list[dict], request_id: str) -> dict:
    [line] = [line for line in log if line.get("request_id") == request_id and line["event"] == "request"]
    return line
