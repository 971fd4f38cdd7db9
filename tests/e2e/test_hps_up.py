"""`hps up` on a fresh state directory: the broker comes up healthy; Ctrl-C leaves nothing behind."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from deploy.kafka_local import port_open
from tests.conftest import free_ports

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


def test_hps_up_reports_a_healthy_broker_and_ctrl_c_stops_everything(tmp_path):
    state = tmp_path / "state"
    port, controller, gateway, finance, ops, metrics = free_ports(6)
    env = {**os.environ, "HPS_STATE_DIR": str(state), "HPS_KAFKA_PORT": str(port),
           "HPS_KAFKA_CONTROLLER_PORT": str(controller), "HPS_GATEWAY_PORT": str(gateway),
           "HPS_FINANCE_PORT": str(finance), "HPS_OPS_PORT": str(ops), "HPS_WORKER_METRICS_PORT": str(metrics)}
    env.pop("HPS_KAFKA_BOOTSTRAP", None)
    up = subprocess.Popen([sys.executable, "-m", "services.cli.main", "up"], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = up.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Press Ctrl-C" in line:
            break
    output = "".join(lines)
    assert "healthy" in output and f"localhost:{port}" in output, output
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
