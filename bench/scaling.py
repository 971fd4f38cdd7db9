"""Stage 7: one instance against two, of the busiest worker (`it`) and of the ledger, each run by
`hps up --scale` on the same machine. The worker's figure is stage 4's measurement; the ledger's is
charges put on `finance.charges` at once, the clock stopped when its group has committed past
every one (each instance commits a fetch once it is posted)."""

import asyncio
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench import ledger, workers
from bench.backlog import drain
from bench.platform import Platform
from bench.report import Row
from services.finance.ledger.engine import GROUP
from shared.kafka import bus
from shared.topics import BY_NAME, CHARGES

INSTANCES = (1, 2)


async def posted(platform: Platform, charges: int) -> tuple[int, float]:
    """(charges, seconds) for the ledger group to post `charges` new ones."""
    bootstrap = platform.bootstrap
    partitions = [TopicPartition(CHARGES, p) for p in range(BY_NAME[CHARGES].partitions)]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    producer = bus.producer(bootstrap, linger_ms=10)
    await asyncio.gather(admin.start(), probe.start(), producer.start())
    try:
        started = time.perf_counter()
        await bus.publish_all(producer, ledger.codec, ((CHARGES, ledger.TENANTS[i % 3], ledger.charge_event(i, "2026-10"))
                                                       for i in range(charges)))
        ends = await probe.end_offsets(partitions)
        while True:
            committed = await admin.list_consumer_group_offsets(GROUP, partitions=partitions)
            # A partition no tenant's charges went to has no offset committed: -1, as good as 0.
            if all(max(0, committed[tp].offset) >= ends[tp] for tp in partitions):
                return charges, time.perf_counter() - started
            await asyncio.sleep(0.1)
    finally:
        await asyncio.gather(producer.stop(), probe.stop(), admin.close())


async def measure(platform: Platform, submits: int, charges: int, gateway_workers: int, drain_s: float) -> list[Row]:
    rates: dict[str, list[float]] = {"worker": [], "ledger": []}
    busiest: dict[str, list[str]] = {"worker": [], "ledger": []}
    for n in INSTANCES:
        platform.up(gateway_workers, {"it": n, "ledger": n})  # one of each: the platform of stages 2 and 4
        for part, run, item in (("worker", lambda: workers.throughput(platform, submits), "request"),
                                ("ledger", lambda: posted(platform, charges), "charge")):
            await drain(platform.bootstrap, drain_s)
            usage = platform.usage(f"{part}-x{n}", "it" if part == "worker" else "ledger").start()
            done, seconds = await run()
            usage.stop()
            rates[part].append(done / seconds)
            busiest[part].append(f"×{n}: {usage.busiest(done, item)}")
    return [Row(f"7. scale out: {what}, {' → '.join(str(n) for n in INSTANCES)} instances ({size:,} each run)",
                " → ".join(f"{rate:,.0f}" for rate in rates[part]) + f" {unit}/s", "one instance (the first figure)",
                rates[part][-1] / rates[part][0], "—", None, "; ".join(busiest[part]))
            for part, what, size, unit in (("worker", "`it` worker", submits, "requests"),
                                           ("ledger", "ledger on PostgreSQL", charges, "charges"))]
