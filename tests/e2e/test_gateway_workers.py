"""HPS_GATEWAY_WORKERS=2: two gateway processes on one port, sharing the read model's database and
its consumer group. Whichever process takes a command and whichever records its outcome, the caller
who waits is answered with it; one process SIGKILLed is started again while the other serves."""

import os
import signal
import subprocess
import time

import pytest

from tests.e2e.platform import Client

WORKERS = 2


def children(pid: int) -> list[int]:
    """The gateway's worker processes: the children uvicorn's supervisor spawned."""
    found = subprocess.run(["pgrep", "-P", str(pid), "-f", "spawn_main"], capture_output=True, text=True)
    return [int(p) for p in found.stdout.split()]


def await_children(pid: int, count: int, timeout_s: float = 60) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while len(found := children(pid)) != count:
        assert time.monotonic() < deadline, f"{found} gateway processes, not {count}"
        time.sleep(0.2)
    return found


@pytest.fixture
def two_gateways(platform):
    platform.stop("gateway")
    platform.extra_env["HPS_GATEWAY_WORKERS"] = str(WORKERS)
    try:
        platform.start("gateway")
        platform.await_health(platform.url, "gateway")
        yield platform
    finally:
        del platform.extra_env["HPS_GATEWAY_WORKERS"]
        platform.stop("gateway")
        platform.start("gateway")
        platform.await_health(platform.url, "gateway")


def test_two_gateway_processes_answer_every_waiting_caller_and_survive_a_kill(two_gateways):
    platform = two_gateways
    first, second = await_children(platform.processes["gateway"].pid, WORKERS)

    def journey() -> None:
        """On new connections, which the kernel spreads over both processes."""
        council, staff = Client(platform.url, "dev-council"), Client(platform.url, "dev-staff-it")
        submitted = council.http.post("/v1/requests", params={"wait": "30s"}, json={
            "service": "it", "type": "account-setup", "priority": "P3", "description": "New starter",
            "cost_centre": "CC-100", "quantity": 1})
        assert submitted.status_code == 200 and submitted.json()["result"]["status"] == "submitted", submitted.text
        request_id = submitted.json()["request_id"]
        accepted = staff.move(request_id, "accept", wait=30)
        assert accepted.status_code == 200 and accepted.json()["result"]["status"] == "accepted", accepted.text
        assert council.get(request_id).json()["version"] == 2
        council.http.close(), staff.http.close()

    for _ in range(10):
        journey()
    os.kill(first, signal.SIGKILL)
    journey()  # the other process serves meanwhile
    assert second in await_children(platform.processes["gateway"].pid, WORKERS)
    for _ in range(4):
        journey()
