"""`python -m bench`: every stage of the platform measured on this machine, each beside a raw client
where one exists, printed as one table and written into docs/benchmarks.md between its markers.

    .venv/bin/python -m bench [--quick] [--no-write] [--only gateway,visible,workers,scaling,producer,ledger,close]

It starts its own Kafka broker, PostgreSQL databases and `hps up` (bench/platform.py) and stops
them all at the end, after Ctrl-C too. It asserts nothing: "met?" compares each figure with its target.
"""

import argparse
import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import uvloop

from bench import gateway, producing, recharge, report, scaling, visible, workers
from bench.platform import Platform
from shared.logging import configure

DOCUMENT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
# The order they run in: those that need the services first, then the rest on a quiet machine.
STAGES = ("gateway", "visible", "workers", "scaling", "producer", "ledger", "close")
NEED_SERVICES = {"gateway", "visible", "workers", "scaling"}
# Each size: (full run, --quick).
SIZES = {
    "gateway_seconds": (15, 2),
    "rates": ("50,200,500,1000", "25,50"),
    "rate_seconds": (10, 2),
    "submits": (10_000, 300),
    "events": (100_000, 2_000),
    "charges": (20_000, 1_000),
    "close_charges": (1_000_000, 5_000),
    "drain_s": (600, 60),
}


def options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every stage tiny: a smoke test of the benchmark")
    parser.add_argument("--no-write", action="store_true", help="leave docs/benchmarks.md as it is")
    parser.add_argument("--only", default=",".join(STAGES), help=f"stages to run, of {','.join(STAGES)}")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="py-spy samples of the busy Python process of each measurement (perturbs the figures)")
    parser.add_argument("--connections", type=int, default=32, help="wrk's connections (stage gateway)")
    parser.add_argument("--gateway-workers", type=int, default=os.cpu_count(),
                        help="HPS_GATEWAY_WORKERS of the multi-process runs (gateway, visible, workers)")
    sized = {"gateway_seconds": (float, "seconds of each wrk run"),
             "rates": (str, "offered rates, req/s, comma-separated (stage visible)"),
             "rate_seconds": (float, "seconds at each offered rate"),
             "submits": (int, "request-submitted events for the worker (stages workers, scaling)"),
             "events": (int, "events produced by each producer (stage producer)"),
             "charges": (int, "charges applied by the ledger on each engine (stages ledger, scaling)"),
             "close_charges": (int, "charges in the period closed (stage close)"),
             "drain_s": (float, "at most this long to wait for the platform's backlog between runs")}
    for name, (kind, what) in sized.items():
        full, quick = SIZES[name]
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, help=f"{what} (default {full}; --quick {quick})")
    args = parser.parse_args(argv)
    for name, (full, quick) in SIZES.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    if unknown := set(args.only) - set(STAGES):
        parser.error(f"unknown stage(s) {', '.join(sorted(unknown))}; known: {', '.join(STAGES)}")
    args.rates = [int(r) for r in args.rates.split(",")]
    return args


async def stage(name: str, platform: Platform, args: argparse.Namespace) -> list[report.Row]:
    if name not in NEED_SERVICES:
        platform.down()  # the services idle on the machine would only add noise
    match name:
        case "gateway":
            return await gateway.measure(platform, args.connections, args.gateway_seconds, args.gateway_workers,
                                         args.drain_s)
        case "visible":
            return await visible.measure(platform, args.rates, args.rate_seconds, args.gateway_workers, args.drain_s)
        case "workers":
            return await workers.measure(platform, args.submits, args.gateway_workers, args.drain_s)
        case "scaling":
            return await scaling.measure(platform, args.submits, args.charges, args.gateway_workers, args.drain_s)
        case "producer":
            return await producing.measure(platform, args.events)
        case "ledger":
            return await recharge.measure_ledger(platform, args.charges)
        case "close":
            return recharge.measure_close(platform, args.close_charges)


def interrupt(signum: int, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str]) -> None:
    args = options(argv)
    configure("WARNING")
    # Ctrl-C, or a stop, raises at once wherever the run is, and the `with` below stops everything.
    # (Not asyncio's own handler, which only cancels the running task: a library may swallow that.)
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    load = ", ".join(f"{n:.2f}" for n in os.getloadavg())
    rows: list[report.Row] = []
    with Platform(args.profile) as platform, asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        for name in (s for s in STAGES if s in args.only):
            print(f"measuring {name} …", file=sys.stderr, end=" ", flush=True)
            started = time.monotonic()
            rows += runner.run(stage(name, platform, args))
            print(f"{time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
        where = report.machine(platform.kafka_version(), platform.databases.version(), load)
    rows.sort(key=lambda row: row.stage.split(".")[0])  # the table's order, not the order they ran in
    text = report.section(rows, where, " ".join(["python -m bench", *argv]))
    print(text)
    if not args.no_write:
        report.write(DOCUMENT, text)
        print(f"written to {DOCUMENT}", file=sys.stderr)


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except KeyboardInterrupt:
        sys.exit("interrupted; everything the benchmark started is stopped")
