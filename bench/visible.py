"""Stage 2: from submitting a request to seeing it in the API, at fixed offered rates.

Method. Requests go out on a fixed schedule whatever the answers (open loop, bench/open_loop.py).
Each is a `POST /v1/requests`, then, once that has answered 202, a `GET
/v1/commands/{id}?wait=W`: the gateway answers that with `applied` only once its read model has
applied the worker's first change of the request (the command's outcome and the request's view are
written in one transaction, services/gateway/store.py), so the answer marks the moment the request
became visible, and nothing outside polls the gateway. A gateway process wakes a waiting call as
soon as its own read model records the decision; one recorded by another gateway process
(HPS_GATEWAY_WORKERS) is found at its next look (shared/api/outcomes.py, POLL_ELSEWHERE_S). A
sample, every 20th request, is confirmed with a `GET /v1/requests/{id}`. A request not applied
within W seconds (still pending, an error, no answer) counts as never visible, and as an infinite
latency in the percentiles.

Where the time goes: a raw consumer of the worker's events topic notes when each request's first
output appears: with the time the 202 came, that places each hop on the way, timed from when the
POST went out: the gateway's 202, the worker's output, the read model's view.

The load generator's own ceiling is the same schedule against `GET /health`, in the same run.
"""

import asyncio
import json
import math

from bench.backlog import drain
from bench.gateway import SUBMIT, TOKEN
from bench.http import Client
from bench.open_loop import Run, ms, open_loop, percentile
from bench.platform import Platform
from bench.report import Row
from bench.workers import SERVICE, consumer_from, ends
from shared.topics import events_topic

WAIT_S = 30  # the most the gateway waits (shared/api/outcomes.py)
SAMPLE_EVERY = 20
CONNECTIONS = 2000
TARGET_RATE, TARGET_P99_S = 1000, 0.5
FAILURES = (OSError, asyncio.IncompleteReadError, ValueError, KeyError)


async def submitted_and_visible(client: Client, bootstrap: str, rate: float,
                                 seconds: float) -> tuple[Run, str, list[int]]:
    """The run, the p50 of when each hop was done, and the status of each sampled `GET /v1/requests/{id}`."""
    loop, body = asyncio.get_running_loop(), SUBMIT.encode()
    outputs = await consumer_from(await ends(bootstrap, events_topic(SERVICE)), bootstrap)
    output_at: dict[bytes, float] = {}  # request id: when the worker's first output on it was read
    hops: list[tuple[float, float, bytes, float]] = []  # sent, accepted, request id, visible
    samples: list[int] = []

    async def watch() -> None:
        while True:
            for records in (await outputs.getmany(timeout_ms=100)).values():
                now = loop.time()
                for record in records:
                    output_at.setdefault(record.key, now)

    async def send(i: int) -> bool:
        try:
            sent = loop.time()
            status, answer = await client.request("POST", "/v1/requests", body)
            if status != 202:
                return False
            accepted, command = loop.time(), json.loads(answer)
            status, answer = await client.request("GET", f"/v1/commands/{command['command_id']}?wait={WAIT_S}")
            if status != 200 or json.loads(answer)["state"] != "applied":
                return False
            hops.append((sent, accepted, command["request_id"].encode(), loop.time()))
            if i % SAMPLE_EVERY == 0:
                samples.append((await client.request("GET", f"/v1/requests/{command['request_id']}"))[0])
            return True
        except FAILURES:
            return False

    watching = asyncio.create_task(watch())
    try:
        run = await open_loop(send, rate, seconds)
    finally:
        watching.cancel()
        await outputs.stop()
    traced = [(a - s, output_at[key] - s, v - s) for s, a, key, v in hops if key in output_at]
    split = ", ".join(f"{name} {ms(percentile([t[hop] for t in traced], 0.5))}"
                      for hop, name in enumerate(("202", "worker output", "visible")))
    return run, split, samples


async def health(client: Client, rate: float, seconds: float) -> Run:
    async def send(i: int) -> bool:
        try:
            return (await client.request("GET", "/health"))[0] == 200
        except FAILURES:
            return False

    return await open_loop(send, rate, seconds)


async def measure(platform: Platform, rates: list[int], seconds: float, workers: int, drain_s: float) -> list[Row]:
    platform.up(workers)
    rows = []
    for rate in rates:
        await drain(platform.bootstrap, drain_s)
        client = Client("127.0.0.1", platform.port, TOKEN, CONNECTIONS)
        try:
            generator = platform.usage(f"health-{rate}", "bench").start()
            ceiling = await health(client, rate, seconds)
            generator.stop()
            usage = platform.usage(f"visible-{rate}", "gateway").start()
            run, split, samples = await submitted_and_visible(client, platform.bootstrap, rate, seconds)
            usage.stop()
        finally:
            client.close()
        p99, reference_p99 = percentile(run.latencies_s, 0.99), percentile(ceiling.latencies_s, 0.99)
        comparable = math.isfinite(p99) and math.isfinite(reference_p99) and reference_p99 > 0
        at_target = rate >= TARGET_RATE
        rows.append(Row(
            f"2. submit → visible, {rate:,} req/s offered for {seconds:g} s (open loop, {workers} gateway processes)",
            f"{run.latency()}; {run.missing:,} of {len(run.latencies_s):,} never visible; "
            f"p50 after the POST went out: {split}; sampled `GET` shows {samples.count(200)} of {len(samples)}; "
            f"last send {run.late_s * 1000:,.0f} ms late",
            f"load generator vs `GET /health`: {ceiling.latency()}, {ceiling.missing:,} failed; "
            f"last send {ceiling.late_s * 1000:,.0f} ms late; generator {generator.percent('bench'):.0f}% of a core",
            p99 / reference_p99 if comparable else None,
            f"p99 ≤ {TARGET_P99_S * 1000:.0f} ms at {TARGET_RATE:,} req/s" if at_target else "—",
            p99 <= TARGET_P99_S and samples.count(200) == len(samples) if at_target else None,
            usage.busiest(len(run.latencies_s), "req")))
    return rows
