"""Nothing answers that should not: /metrics (tenant labels) only to operations, the processes
behind the gateway on loopback only, and one caller's burst held to its rate limit while the
others are served."""

import socket
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from shared.topics import SERVICES
from tests.e2e.platform import lone_gateway


def listening(port: int) -> set[str]:
    """The addresses a socket listens on at `port`, from the kernel's tables."""
    found = set()
    for table, size in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        with open(table) as rows:
            for row in list(rows)[1:]:
                local, state = row.split()[1], row.split()[3]
                address, _, hex_port = local.partition(":")
                if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    raw = bytes.fromhex(address)
                    # /proc writes each 32-bit word in host (little-endian) order
                    words = b"".join(raw[i:i + 4][::-1] for i in range(0, size, 4))
                    found.add(socket.inet_ntop(socket.AF_INET if size == 4 else socket.AF_INET6, words))
    return found


@pytest.mark.parametrize("name", ["gateway", "finance.ledger", "ops"])
def test_metrics_answer_operations_only(platform, name):
    url = f"{platform.health_url(name)}/metrics"
    for token, status in ((None, 401), ("dev-council", 403), ("dev-finance", 403), ("dev-ops", 200)):
        answer = httpx.get(url, headers={"Authorization": f"Bearer {token}"} if token else {}, timeout=10)
        assert answer.status_code == status, (token, answer.text[:200])
    assert "hps_" in answer.text


def test_the_processes_behind_the_gateway_listen_on_loopback_only(platform):
    ports = {"finance.ledger": platform.finance_port, "ops": platform.ops_port,
             **{service: platform.metrics_ports[service] for service in SERVICES}}
    for name, port in ports.items():
        assert listening(port) == {"127.0.0.1"}, (name, listening(port))


@pytest.fixture(scope="module")
def limited(kafka_bootstrap, tmp_path_factory):
    """A gateway of its own that lets each caller make 20 requests a second."""
    with lone_gateway(kafka_bootstrap, tmp_path_factory.mktemp("limited"), {"HPS_RATE_LIMIT": "20/second"}) as running:
        yield running


def test_a_burst_past_the_rate_limit_gets_429_and_the_other_callers_are_served(limited):
    def ask(token: str) -> httpx.Response:
        return httpx.get(f"{limited.url}/v1/catalogue", headers={"Authorization": f"Bearer {token}"}, timeout=10)

    with ThreadPoolExecutor(8) as pool:
        burst = list(pool.map(ask, ["dev-council"] * 80))
    refused = [a for a in burst if a.status_code == 429]
    assert refused and {a.status_code for a in burst} == {200, 429}, [a.status_code for a in burst]
    retry_after = int(refused[0].headers["retry-after"])
    assert 1 <= retry_after <= 2
    assert refused[0].json()["error"]["code"] == "rate_limited"
    # Another partner, meanwhile, is served.
    assert ask("dev-ccg").status_code == 200
    # And the first again, once it has waited as told.
    time.sleep(retry_after)
    assert ask("dev-council").status_code == 200
    # Probes are never limited.
    assert all(httpx.get(f"{limited.url}/health", timeout=10).status_code == 200 for _ in range(40))
