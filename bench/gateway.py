"""Stage 1: the gateway's `POST /v1/requests` under wrk (closed loop: each connection sends its next
request once answered; every 202 waited for Kafka's acks=all), beside the same processes' `GET
/health`, first as one process, then as N (HPS_GATEWAY_WORKERS=N)."""

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path

from bench.backlog import drain
from bench.platform import Platform
from bench.report import Row

TOKEN = "dev-council"
SUBMIT = json.dumps({"service": "it", "type": "account-setup", "priority": "P3", "description": "benchmark",
                     "cost_centre": "CC-100", "quantity": 1})
SCRIPT = Path(__file__).with_name("wrk.lua")


@dataclass(frozen=True)
class Load:
    rate: float  # answers in 2xx per second
    p50_ms: float
    p99_ms: float
    failed: int  # answers outside 2xx, and requests without an answer

    def __str__(self) -> str:
        failed = f", {self.failed:,} failed" if self.failed else ""
        return f"{self.rate:,.0f} req/s, p50 {self.p50_ms:,.1f} ms, p99 {self.p99_ms:,.1f} ms{failed}"


async def wrk(url: str, connections: int, seconds: float, method: str = "GET", body: str | None = None) -> Load:
    env = {**os.environ, "WRK_METHOD": method, "WRK_TOKEN": TOKEN, **({"WRK_BODY": body} if body else {})}
    process = await asyncio.create_subprocess_exec(
        "wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(SCRIPT), url, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await process.communicate()
    finally:
        if process.returncode is None:  # cancelled: Ctrl-C
            process.kill()
            await process.wait()
    if process.returncode:
        raise RuntimeError(f"wrk exited with {process.returncode}: {err.decode(errors='replace')}")
    run = json.loads(out.decode().strip().splitlines()[-1])
    failed = run["non_2xx"] + run["socket_errors"]
    return Load((run["requests"] - run["non_2xx"]) / (run["duration_us"] / 1e6), run["p50_us"] / 1000,
                run["p99_us"] / 1000, failed)


async def measure(platform: Platform, connections: int, seconds: float, workers: int, drain_s: float) -> list[Row]:
    rows = []
    for processes in dict.fromkeys((1, workers)):
        platform.up(processes)
        await drain(platform.bootstrap, drain_s)
        health = await wrk(f"{platform.url}/health", connections, seconds)
        usage = platform.usage(f"gateway-post-{processes}", "gateway").start()
        post = await wrk(f"{platform.url}/v1/requests", connections, seconds, "POST", SUBMIT)
        usage.stop()
        ratio = post.rate / health.rate
        load = f"wrk, {connections} connections, {seconds:g} s"
        if processes == 1:
            stage, target = f"1. gateway `POST /v1/requests`, 1 process ({load})", "≥ 50% of /health, p99 ≤ 100 ms"
            met = ratio >= 0.5 and post.p99_ms <= 100 and not post.failed
        else:
            stage = (f"1. gateway `POST /v1/requests`, HPS_GATEWAY_WORKERS={processes} "
                     f"({platform.gateway_processes()} gateway processes running; {load})")
            target, met = "≥ 3,000 req/s", post.rate >= 3000 and not post.failed
        rows.append(Row(stage, f"{post}", f"`GET /health`: {health}", ratio, target, met,
                        usage.busiest(round(post.rate * usage.elapsed_s), "req")))
        await drain(platform.bootstrap, drain_s)  # the workers' backlog of what was just accepted
    return rows
