"""`hps up` on a fresh state directory: it says the platform is up only when every service is
healthy; a consumer that ends takes its process down and `hps up` starts it again; a port in use
stops it at once; Ctrl-C leaves nothing behind. With `--scale` and `--brokers 3` it runs instances
of services, on PostgreSQL, on a three-broker cluster whose topics are replicated three times."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from deploy.kafka_local import port_open
from shared.kafka import bus
from tests.conftest import fresh_database, port_block

ROOT = Path(__file__).resolve().parents[2]


def processes_mentioning(text: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and proc.name != str(os.getpid()):
            try:
                if text in (proc / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(proc.name))
            except OSError:
                pass
    return found


def environment(tmp_path) -> tuple[dict, dict]:
    """`hps up`'s environment on free ports, and the ports."""
    # One block: a cluster's nodes listen 2 apart, the workers each a port above the first, and the
    # second instance of each process 10 above the first.
    base = port_block(40)
    ports = {"kafka": base, "controller": base + 1, "gateway": base + 6, "finance": base + 7, "ops": base + 8,
             "workers": base + 10}
    env = {**os.environ, "HPS_STATE_DIR": str(tmp_path / "state"), "HPS_KAFKA_PORT": str(ports["kafka"]),
           "HPS_KAFKA_CONTROLLER_PORT": str(ports["controller"]), "HPS_GATEWAY_PORT": str(ports["gateway"]),
           "HPS_FINANCE_PORT": str(ports["finance"]), "HPS_OPS_PORT": str(ports["ops"]),
           "HPS_WORKER_METRICS_PORT": str(ports["workers"])}
    env.pop("HPS_KAFKA_BOOTSTRAP", None)
    return env, ports


def read_until(process: subprocess.Popen, text: str, lines: list[str], timeout_s: float = 180) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            break
    return "".join(lines)


def test_hps_up_is_up_when_every_service_is_healthy_restarts_a_process_whose_consumer_ended_and_ctrl_c_stops_everything(
        tmp_path):
    env, ports = environment(tmp_path)
    port, ops, state = ports["kafka"], ports["ops"], Path(env["HPS_STATE_DIR"])
    # Every consumer ends once, after the first messages it handles.
    up = subprocess.Popen([sys.executable, "-m", "services.cli.main", "up"], cwd=ROOT,
                          env={**env, "HPS_FAULTS": "consumer-ends"},
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    output = read_until(up, "Press Ctrl-C", lines)
    assert "healthy" in output and f"localhost:{port}" in output, output
    assert "HTTP Request" not in output, "what hps up prints is README's summary, not each health check"
    services = ("gateway", "hr", "it", "procurement", "finance", "ledger", "ops")
    for name in services:
        assert any(line.startswith(name) and line.rstrip().endswith("healthy") for line in lines), (name, output)
    health = {name: f"http://127.0.0.1:{ports['workers'] + i}/health" for i, name in enumerate(services[1:5])}
    health |= {"gateway": f"http://127.0.0.1:{ports['gateway']}/health",
               "ledger": f"http://127.0.0.1:{ports['finance']}/health", "ops": f"http://127.0.0.1:{ops}/health"}
    it_health = httpx.get(health["it"]).json()
    assert it_health["status"] == "ok" and it_health["consumers"][0]["name"] == "it"
    assert it_health["consumers"][0]["group"] == "hps-it" and it_health["consumers"][0]["state"] == "running"

    # The council's request passes through the IT worker, the gateway's read model and the observer;
    # each of their consumers then ends, and `hps up` starts each process again.
    api = httpx.Client(base_url=f"http://127.0.0.1:{ports['gateway']}", headers={"Authorization": "Bearer dev-council"})
    submitted = api.post("/v1/requests", json={"service": "it", "type": "account-setup", "description": "New starter",
                                               "cost_centre": "ASC-100", "quantity": 1})
    assert submitted.status_code == 202, submitted.text
    restarts = {f"{name} exited with 1; restarting" for name in ("it", "gateway", "ops")}
    deadline = time.monotonic() + 90
    while not all(r in output for r in restarts) and time.monotonic() < deadline:
        output = read_until(up, "restarting", lines, timeout_s=max(1, deadline - time.monotonic()))
    assert all(r in output for r in restarts), output
    # Back up: every service healthy again, and the request the IT worker took before it went down is there.
    deadline = time.monotonic() + 90
    while True:
        answers = {}
        for name, url in health.items():
            try:
                answers[name] = httpx.get(url, timeout=2).status_code
            except httpx.HTTPError as exc:
                answers[name] = repr(exc)
        shown = None
        if answers["gateway"] == 200:
            shown = api.get(f"/v1/requests/{submitted.json()['request_id']}")
        if set(answers.values()) == {200} and shown is not None and shown.status_code == 200:
            break
        assert time.monotonic() < deadline, (answers, shown and shown.text)
        time.sleep(0.5)
    assert shown.json()["status"] == "submitted"
    assert f"http://127.0.0.1:{ops}/ops" in output, "the dashboard's address is printed"
    assert port_open(port)
    assert processes_mentioning(str(state)), "the broker should run under the state directory"
    status = subprocess.run([sys.executable, "-m", "services.cli.main", "kafka", "status"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert status.returncode == 0 and f"Kafka is up at localhost:{port}" in status.stdout

    up.send_signal(signal.SIGINT)
    rest, _ = up.communicate(timeout=120)
    assert up.returncode == 0, output + rest
    assert "every process of the platform has exited" in rest
    assert not port_open(port)
    assert processes_mentioning(str(state)) == []
    stopped = subprocess.run([sys.executable, "-m", "services.cli.main", "kafka", "status"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
    assert stopped.returncode == 1 and "not running" in stopped.stdout


def test_hps_up_stops_at_once_naming_a_port_in_use_and_the_setting_that_moves_it(tmp_path):
    env, ports = environment(tmp_path)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", ports["finance"]))
        holder.listen()
        started = time.monotonic()
        up = subprocess.run([sys.executable, "-m", "services.cli.main", "up"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert up.returncode == 1
    assert f"port {ports['finance']} (ledger) is in use" in up.stderr and "HPS_FINANCE_PORT" in up.stderr, up.stderr
    assert time.monotonic() - started < 20, "it stops before starting anything"
    assert not port_open(ports["kafka"]) and processes_mentioning(env["HPS_STATE_DIR"]) == []


def test_hps_up_runs_instances_of_services_on_postgres_and_a_three_broker_cluster(tmp_path):
    env, ports = environment(tmp_path)
    bootstrap = ",".join(f"localhost:{ports['kafka'] + 2 * i}" for i in range(3))
    with fresh_database() as url:
        up = subprocess.Popen([sys.executable, "-m", "services.cli.main", "up", "--scale", "it=2,ledger=2",
                               "--brokers", "3"], cwd=ROOT, env={**env, "HPS_DATABASE_URL": url},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            lines: list[str] = []
            output = read_until(up, "Press Ctrl-C", lines, timeout_s=240)
            assert f"Kafka       {bootstrap}  healthy" in output, output
            for name in ("it", "ledger"):
                assert any(line.startswith(name) and line.rstrip().endswith("healthy  ×2") for line in lines), output
            # The second instances, 10 ports above the first, each with its share of the partitions.
            for health in (f"http://127.0.0.1:{ports['workers'] + 1 + 10}/health",
                         f"http://127.0.0.1:{ports['finance'] + 10}/health"):
                assert httpx.get(health, timeout=5).json()["status"] == "ok"
            assert bus.group_members(bootstrap, ["hps-it", "hps-finance-ledger"]) == \
                {"hps-it": 2, "hps-finance-ledger": 2}
            admin = KafkaAdminClient(bootstrap_servers=bootstrap)
            [described] = admin.describe_topics(["it.requests"])
            configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "it.requests")])
            admin.close()
            assert {len(p["replica_nodes"]) for p in described["partitions"]} == {3}
            assert configs["topic"]["it.requests"]["min.insync.replicas"]["value"] == "2", configs
            api = httpx.Client(base_url=f"http://127.0.0.1:{ports['gateway']}",
                               headers={"Authorization": "Bearer dev-council"})
            applied = api.post("/v1/requests", params={"wait": 20}, json={
                "service": "it", "type": "account-setup", "description": "New starter", "cost_centre": "ASC-100",
                "quantity": 1})
            assert applied.status_code == 200 and applied.json()["state"] == "applied", applied.text
        finally:
            up.send_signal(signal.SIGINT)
            rest, _ = up.communicate(timeout=120)
    assert up.returncode == 0 and "every process of the platform has exited" in rest, rest
    assert processes_mentioning(env["HPS_STATE_DIR"]) == []
