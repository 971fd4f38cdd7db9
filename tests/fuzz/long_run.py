"""The fuzz test at length: `python -m tests.fuzz.long_run --inputs 100000` (make fuzz).

Runs tests/fuzz in rounds, each with as many random cases per operation and principal as the
remaining count needs, against one broker and one PostgreSQL server started here (or the ones
HPS_KAFKA_BOOTSTRAP and HPS_TEST_DATABASE_URL name), until at least --inputs requests were sent.
Exits 1 if any case failed (a 5xx, a hang, an event published for a refused request, a reused
Idempotency-Key accepted with another body), printing the inputs run and the failures."""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from tests.fuzz.harness import TOKENS, Failure, report, summary
from tests.fuzz.openapi_merge import merged_openapi

ROOT = Path(__file__).resolve().parents[2]
# Hypothesis ends an operation early once it has tried every distinct input (an operation without
# parameters has one), so a round runs fewer cases than asked for; the next round makes up the rest.
MIN_PER_ROUND, MAX_PER_ROUND = 20, 1000


def kafka(stack: ExitStack, home: Path) -> str:
    from deploy.kafka_local import LocalKafka
    from shared.kafka import bus
    from tests.conftest import free_ports

    if not (bootstrap := os.environ.get("HPS_KAFKA_BOOTSTRAP")):
        broker = LocalKafka(home, *free_ports(2))
        broker.start()
        stack.callback(broker.stop)
        bootstrap = broker.bootstrap
    bus.ensure_topics(bootstrap)
    return bootstrap


def postgres() -> str:
    """A server where a database can be created, as tests/conftest.py finds one."""
    if url := os.environ.get("HPS_TEST_DATABASE_URL"):
        return url
    script = ROOT / "deploy" / "postgres-local.sh"
    return subprocess.run(["bash", str(script)], check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]


def run_round(examples: int, env: dict, report_file: Path) -> dict:
    report_file.unlink(missing_ok=True)
    # No per-test time limit: a round's operations run for minutes, and a hang is a failed case already.
    command = [sys.executable, "-m", "pytest", "tests/fuzz", "-q", "-p", "no:cacheprovider", "-o", "timeout=0"]
    # Its exit status says only whether this round found failures; the report says which.
    subprocess.run(command, cwd=ROOT, env={**env, "HPS_FUZZ_EXAMPLES": str(examples),
                                           "HPS_FUZZ_REPORT": str(report_file)})
    if not report_file.exists():
        raise SystemExit("the fuzz round ended without a report: its platform did not start, see above")
    return json.loads(report_file.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=100_000, help="requests to send at least (default 100000)")
    args = parser.parse_args()

    operations = sum(len(ops) for ops in merged_openapi()["paths"].values())
    items = operations * len(TOKENS)
    cases, statuses, failures, rounds = 0, Counter(), {}, 0
    started = time.monotonic()
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hps-fuzz-")))
        env = {**os.environ, "HPS_KAFKA_BOOTSTRAP": kafka(stack, scratch / "kafka"),
               "HPS_TEST_DATABASE_URL": postgres()}
        while cases < args.inputs:
            rounds += 1
            examples = min(MAX_PER_ROUND, max(MIN_PER_ROUND, math.ceil((args.inputs - cases) / items)))
            print(f"fuzz round {rounds}: {examples} random cases per operation and principal "
                  f"({cases} of {args.inputs} inputs so far)", flush=True)
            found = run_round(examples, env, scratch / "report.json")
            cases += found["cases"]
            statuses.update(found["statuses"])
            for f in found["failures"]:
                f = Failure(**f)
                label = (f.check, f.method, f.path, f.status)
                if label in failures:
                    failures[label].count += f.count
                else:
                    failures[label] = f
    minutes = (time.monotonic() - started) / 60
    heading = summary(f"fuzz long run, {rounds} round(s) in {minutes:.0f} min", cases, statuses, failures.values())
    print(report(heading, failures.values()), flush=True)
    print(f"inputs run: {cases}; failures: {sum(f.count for f in failures.values())}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
