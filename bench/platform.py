"""This run's own platform: a Kafka broker, new PostgreSQL databases and `hps up`, on free ports in
a temporary folder, each started when a stage first needs it and all stopped by `close()`, also
after Ctrl-C. Nothing of the caller's environment (HPS_*) reaches it: it never joins another
platform's broker or consumer groups."""

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench import processes
from bench.cpu import Usage
from bench.databases import Databases
from bench.profiles import Recording
from deploy.kafka_local import LocalKafka, install_jars
from services.cli.layout import PORT_STRIDE
from shared.kafka import bus
from tests.conftest import free_ports

ROOT = Path(__file__).resolve().parents[1]
UP_WITHIN_S = 180
STOP_WITHIN_S = 60


def free_port_run(count: int) -> int:
    """The first of `count` consecutive free ports (`hps up` gives the workers consecutive ones)."""
    for _ in range(200):
        base = random.randrange(20_000, 60_000)
        sockets = [socket.socket() for _ in range(count)]
        try:
            for offset, s in enumerate(sockets):
                s.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError(f"no {count} consecutive free ports found")


class Platform:
    def __init__(self, profile_dir: Path | None = None) -> None:
        self.profile_dir = profile_dir
        self.home = Path(tempfile.mkdtemp(prefix="hps-bench-"))
        self.databases = Databases()
        self.broker: LocalKafka | None = None
        self.hps_up: subprocess.Popen | None = None
        self.gateway_workers: int | None = None
        self.scale: dict[str, int] = {}
        self.port = 0

    def __enter__(self) -> "Platform":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def bootstrap(self) -> str:
        if self.broker is None:
            self.broker = LocalKafka(self.home / "kafka", *free_ports(2))
            self.broker.start()
            bus.ensure_topics(self.broker.bootstrap)
        return self.broker.bootstrap

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @staticmethod
    def kafka_version() -> str:
        return next(install_jars().glob("kafka_2.13-*.jar")).stem.split("-", 1)[1]

    def up(self, gateway_workers: int, scale: dict[str, int] | None = None) -> None:
        """`hps up` with this many gateway processes (HPS_GATEWAY_WORKERS), and instances of the
        services in `scale` (HPS_SCALE), on a new database and new ports; returns once every
        service, and every gateway process, answers its health check."""
        scale = {name: count for name, count in (scale or {}).items() if count > 1}  # one of each is the default
        if self.hps_up and (self.gateway_workers, self.scale) == (gateway_workers, scale):
            return
        self.down()
        state = self.home / f"state-{gateway_workers}-{len(list(self.home.iterdir()))}"
        state.mkdir()
        # One run of free ports for all: the gateway, the ledger, ops, the workers, then each one's
        # further instances PORT_STRIDE above (services/cli/layout.py).
        self.port = free_port_run(PORT_STRIDE * max(scale.values(), default=1))
        env = {k: v for k, v in os.environ.items() if not k.startswith("HPS_")}
        env |= {"HPS_KAFKA_BOOTSTRAP": self.bootstrap, "HPS_DATABASE_URL": self.databases.new(),
                "HPS_STATE_DIR": str(state), "HPS_GATEWAY_PORT": str(self.port),
                "HPS_FINANCE_PORT": str(self.port + 1), "HPS_OPS_PORT": str(self.port + 2),
                "HPS_WORKER_METRICS_PORT": str(self.port + 3), "HPS_GATEWAY_WORKERS": str(gateway_workers),
                "HPS_SCALE": ",".join(f"{name}={count}" for name, count in scale.items()),
                # One token drives the whole load: the benchmark measures the platform, not its limits.
                "HPS_RATE_LIMIT": ""}
        log = state / "hps-up.log"
        with open(log, "wb") as out:
            self.hps_up = subprocess.Popen([sys.executable, "-m", "services.cli.main", "up"], cwd=ROOT, env=env,
                                           stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.gateway_workers, self.scale = gateway_workers, scale
        deadline = time.monotonic() + UP_WITHIN_S
        while "The platform is up." not in log.read_text(errors="replace"):
            if self.hps_up.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-3000:]
                self.down()
                raise RuntimeError(f"hps up did not come up; its output ends:\n{tail}")
            time.sleep(0.3)
        self._await_every_gateway(deadline)

    def _await_every_gateway(self, deadline: float, answers: int = 50) -> None:
        """`hps up` is content with one gateway process answering; a measurement wants all of them
        up, so `answers` health checks in a row must pass."""
        with httpx.Client(base_url=self.url, timeout=5) as client:
            healthy = 0
            while healthy < answers:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the gateway processes did not all answer /health within {UP_WITHIN_S}s")
                healthy = healthy + 1 if client.get("/health").status_code == 200 else 0
                if not healthy:
                    time.sleep(0.3)

    def gateway_processes(self) -> int:
        """Processes serving the gateway: the workers under uvicorn's supervisor, else the one."""
        gateway = [pid for pid, part in self.roots().items() if part == "gateway"]
        workers = [pid for g in gateway for pid in processes.descendants(g) if "spawn_main" in processes.command(pid)]
        return len(workers) or len(gateway)

    def usage(self, label: str, *profiled: str) -> Usage:
        """The CPU of each part during a measurement named `label`; with --profile, py-spy samples
        the `profiled` parts meanwhile."""
        recording = Recording(self.profile_dir, label, self.roots(), profiled) if self.profile_dir else None
        return Usage(self.roots, recording)

    def roots(self) -> dict[int, str]:
        """The processes that CPU is counted under (bench/cpu.py): this one, the broker, `hps up`
        and each service it runs, and the PostgreSQL backends connected to this run's databases."""
        roots = {pid: "postgres" for pid in processes.postgres_backends(self.databases.names)}
        roots[os.getpid()] = "bench"
        if self.broker and (broker := self.broker.pid()):
            roots[broker] = "kafka"
        if self.hps_up and self.hps_up.poll() is None:
            roots[self.hps_up.pid] = "hps up"
            roots |= {pid: processes.service(pid) for pid in processes.children(self.hps_up.pid)}
        return roots

    def down(self) -> None:
        """Stop `hps up` as Ctrl-C does; whatever of it is left after a minute is killed."""
        if self.hps_up is None:
            return
        services = processes.descendants(self.hps_up.pid)
        if self.hps_up.poll() is None:
            self.hps_up.send_signal(signal.SIGTERM)
        try:
            self.hps_up.wait(STOP_WITHIN_S)
        except subprocess.TimeoutExpired:
            self.hps_up.kill()
            self.hps_up.wait()
        # Stopped while still starting (SIGTERM ends it at once then), or killed: its services, in
        # sessions of their own, are left to end here.
        for pid in services:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.hps_up = self.gateway_workers = None

    def close(self) -> None:
        try:
            self.down()
        finally:
            if self.broker:
                self.broker.stop()
            self.databases.drop_all()
            shutil.rmtree(self.home, ignore_errors=True)
