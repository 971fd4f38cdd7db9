"""The benchmark still runs: `python -m bench --quick --no-write` measures every stage on a platform
of its own and prints a table with a figure in every row."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Each stage's rows, by the start of their first cell: the gateway as one process and as N, the
# offered rates of --quick, then one row per stage or engine.
ROWS = ("1. gateway `POST /v1/requests`, 1 process", "1. gateway `POST /v1/requests`, HPS_GATEWAY_WORKERS=",
        "2. submit → visible, 25 req/s", "2. submit → visible, 50 req/s", "3. producer", "4. `it` worker",
        "5. recharge engine → ledger on PostgreSQL", "5. recharge engine → ledger on SQLite",
        "6. close of a period", "7. scale out: `it` worker", "7. scale out: ledger on PostgreSQL")
WITHIN_S = 150


def test_the_quick_benchmark_measures_every_stage():
    # A platform of its own: nothing of the test session's broker or database reaches it. Nor does the
    # suite's coverage tracer, which would slow every process of the run (the e2e tests cover the code).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HPS_", "COVERAGE_PROCESS_"))}
    bench = subprocess.Popen([sys.executable, "-m", "bench", "--quick", "--no-write"], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = bench.communicate(timeout=WITHIN_S)
    except subprocess.TimeoutExpired:
        bench.send_signal(signal.SIGINT)  # it stops what it started, as after Ctrl-C
        out, err = bench.communicate(timeout=90)
        pytest.fail(f"the quick benchmark took over {WITHIN_S}s:\n{err[-3000:]}")
    assert bench.returncode == 0, err[-3000:]

    table = [line for line in out.splitlines() if line.startswith("| ")][1:]  # below the header
    for start in ROWS:
        rows = [line for line in table if line.startswith(f"| {start}")]
        assert len(rows) == 1, f"not one row {start!r} in:\n{out}"
        figure = rows[0].split(" | ")[1]
        # It opens with a measured figure above zero ("412 req/s", "p50 180 ms", "0.8 s"), not "p50 never".
        assert re.match(r"(p50 )?[0-9,.]*[1-9][0-9,.]* ", figure), f"no figure in {rows[0]}"
    assert len(table) == len(ROWS), out
