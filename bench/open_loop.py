"""An open-loop load: each request goes out on its own schedule, whatever became of the ones before,
and its latency runs from that schedule, so a queue anywhere, the load generator's own included,
counts against what is measured instead of slowing the load down (no coordinated omission)."""

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)] if ordered else math.nan


def ms(seconds: float) -> str:
    return "never" if seconds == math.inf else f"{seconds * 1000:,.0f} ms"


@dataclass
class Run:
    latencies_s: list[float]  # per request; math.inf for one that never got the answer it wanted
    late_s: float  # how far behind its schedule the last request went out

    @property
    def missing(self) -> int:
        return sum(1 for s in self.latencies_s if s == math.inf)

    def latency(self) -> str:
        return f"p50 {ms(percentile(self.latencies_s, 0.5))}, p99 {ms(percentile(self.latencies_s, 0.99))}"


async def open_loop(send: Callable[[int], Awaitable[bool]], rate: float, seconds: float) -> Run:
    """Call `send(i)` `rate` times a second for `seconds`; one that returns False counts as never done."""
    loop = asyncio.get_running_loop()
    start, count = loop.time(), max(1, round(rate * seconds))

    async def timed(i: int, at: float) -> float:
        return loop.time() - at if await send(i) else math.inf

    tasks = []
    for i in range(count):
        at = start + i / rate
        if (delay := at - loop.time()) > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(timed(i, at)))
    late = loop.time() - (start + (count - 1) / rate)
    return Run(list(await asyncio.gather(*tasks)), late)
