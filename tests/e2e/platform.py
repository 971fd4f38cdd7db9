"""The platform's processes, started for a test module as `hps up` starts them."""

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from aiokafka import AIOKafkaProducer

from shared.topics import SERVICES
from tests.conftest import free_ports

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def lone_gateway(bootstrap: str, state_dir: Path, env: dict) -> Iterator["Platform"]:
    """A gateway alone on `bootstrap`, with a database and a read-model group of its own, healthy."""
    running = Platform(bootstrap, state_dir, *free_ports(3), {"HPS_GATEWAY_GROUP": f"test-{uuid.uuid4().hex[:8]}",
                                                              **env})
    running.start("gateway")
    try:
        running.await_health(running.url, "gateway")
        yield running
    finally:
        running.stop_all()


@dataclass
class Platform:
    bootstrap: str
    state_dir: Path
    port: int
    finance_port: int
    ops_port: int
    extra_env: dict = field(default_factory=dict)
    processes: dict = field(default_factory=dict)
    # Where each worker serves /metrics, as `hps up` gives them ports; filled by start_all.
    metrics_ports: dict = field(default_factory=dict)
    # Instances added beside the first of a service: name (`it-2`) → (service, its port).
    added: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict:
        return {**os.environ, "HPS_KAFKA_BOOTSTRAP": self.bootstrap, "HPS_STATE_DIR": str(self.state_dir),
                "HPS_GATEWAY_PORT": str(self.port), "HPS_FINANCE_PORT": str(self.finance_port), "HPS_OPS_PORT": str(self.ops_port),
                "HPS_API_URL": self.url,
                # The tests' desks and pollers share a few tokens; the limit is tested on a gateway of its own.
                "HPS_RATE_LIMIT": "2000/second",
                **self.extra_env}

    names = ("gateway", *SERVICES, "finance.ledger", "ops")

    def start(self, name: str) -> None:
        service, port = self.added.get(name, (name, self.metrics_ports.get(name)))
        own_port = {} if port is None else {"HPS_FINANCE_PORT" if service == "finance.ledger" else "HPS_METRICS_PORT":
                                            str(port)}
        with open(self.state_dir / f"{name}.log", "ab") as log:
            self.processes[name] = subprocess.Popen([sys.executable, "-m", f"services.{service}"], cwd=ROOT,
                                                    env={**self.env, **own_port}, stdout=log, stderr=subprocess.STDOUT)

    def add(self, service: str) -> str:
        """Another instance of a worker or of the ledger, on a port of its own; returns its name."""
        name = f"{service}-{2 + sum(1 for s, _ in self.added.values() if s == service)}"
        [self.added[name]] = [(service, free_ports(1)[0])]
        self.start(name)
        return name

    def health_url(self, name: str) -> str:
        """Where a process serves /health and /metrics: its API's port, or a worker's own."""
        if name in ("gateway", "ops"):
            return self.url if name == "gateway" else self.ops_url
        first = self.finance_port if name == "finance.ledger" else self.metrics_ports.get(name)
        _, port = self.added.get(name, (name, first))
        return f"http://127.0.0.1:{port}"

    def metrics(self, name: str) -> str:
        """The Prometheus exposition of a process: a worker's own port, else its API's /metrics (for ops)."""
        return httpx.get(f"{self.health_url(name)}/metrics", headers={"Authorization": "Bearer dev-ops"},
                         timeout=10).text

    async def produce(self, topic: str, value: bytes, key: bytes, headers=()) -> tuple[int, int]:
        """Puts a message straight onto a topic, as a misbehaving producer might; returns its partition
        and offset once every in-sync replica has it."""
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await producer.start()
        try:
            sent = await producer.send_and_wait(topic, value, key=key, headers=list(headers))
        finally:
            await producer.stop()
        return sent.partition, sent.offset

    def stop(self, name: str, kill: bool = False) -> None:
        process = self.processes.pop(name)
        process.kill() if kill else process.terminate()
        process.wait(60)

    def start_all(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.metrics_ports = dict(zip(SERVICES, free_ports(len(SERVICES))))
        for name in self.names:
            self.start(name)
        self.await_health(self.url, "gateway")
        self.await_health(f"http://127.0.0.1:{self.finance_port}", "finance.ledger")
        self.await_health(self.ops_url, "ops")

    @property
    def ops_url(self) -> str:
        return f"http://127.0.0.1:{self.ops_port}"

    def await_health(self, url: str, name: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not come up; see {self.state_dir}/{name}.log")
            time.sleep(0.3)

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)


class Client:
    """The partner API as one principal sees it."""

    def __init__(self, url: str, token: str):
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def submit(self, service: str, request_type: str, headers=None, **fields) -> httpx.Response:
        body = {"service": service, "type": request_type, "priority": "P3", "description": f"{request_type} please",
                "cost_centre": "CC-100", **fields}
        return self.http.post("/v1/requests", json=body, headers=headers or {})

    def get(self, request_id: str) -> httpx.Response:
        return self.http.get(f"/v1/requests/{request_id}")

    def move(self, request_id: str, action: str, wait: float | None = None, **fields) -> httpx.Response:
        """Ask for a transition; with `wait`, the answer is the worker's decision."""
        params = {"wait": f"{wait:g}s"} if wait is not None else {}
        return self.http.post(f"/v1/requests/{request_id}/transitions", json={"action": action, **fields},
                              params=params)

    def await_status(self, request_id: str, status: str, timeout_s: float = 30, **fields) -> dict:
        """The request once it has `status`, and the values of `fields` too."""
        deadline = time.monotonic() + timeout_s
        while True:
            response = self.get(request_id)
            if response.status_code == 200 and response.json().items() >= {"status": status, **fields}.items():
                return response.json()
            if time.monotonic() > deadline:
                raise AssertionError(f"{request_id} not {status} after {timeout_s}s: {response.text}")
            time.sleep(0.1)


def requests_for_the_tail(as_, label: str) -> dict[str, str]:
    """The CCG asks Finance and IT for something, the hospital asks Finance: request ids by who asked what."""
    ids = {}
    for name, token, service, request_type in (("ccg finance", "dev-ccg", "finance", "new-supplier"),
                                               ("ccg it", "dev-ccg", "it", "account-setup"),
                                               ("hospital finance", "dev-hospital", "finance", "new-supplier")):
        response = as_(token).submit(service, request_type, quantity=1, description=f"{label}: {name}")
        assert response.status_code == 202, response.text
        ids[name] = response.json()["request_id"]
    return ids


def await_draft(finance: httpx.Client, period: str, tenant: str, holds=lambda d: True, timeout_s: float = 30) -> dict:
    """`tenant`'s draft statement for `period` once it `holds` (as finance previews it)."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = finance.get(f"/v1/finance/periods/{period}/preview", params={"tenant": tenant})
        assert response.status_code == 200, response.text
        [statement] = response.json()["statements"]
        if holds(statement):
            return statement
        assert time.monotonic() < deadline, f"{period} {tenant}: not as expected after {timeout_s}s: {statement}"
        time.sleep(0.3)
