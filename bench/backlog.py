"""Waiting out the platform's backlog between measurements, so one stage's leftover work does not
slow the next: every consumer group of the platform (`hps-*`) has committed up to each log end."""

import asyncio
import sys
import time

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

GROUP_PREFIX = "hps-"


async def lag(admin: AIOKafkaAdminClient, probe: AIOKafkaConsumer) -> int:
    """Messages the platform's groups have yet to commit past, on the partitions they have committed on."""
    committed = {}
    for group, _ in await admin.list_consumer_groups():
        if group.startswith(GROUP_PREFIX):
            for tp, meta in (await admin.list_consumer_group_offsets(group)).items():
                if meta.offset >= 0:
                    committed[(group, tp)] = meta.offset
    ends = await probe.end_offsets(list({tp for _, tp in committed})) if committed else {}
    return sum(max(0, ends[tp] - offset) for (_, tp), offset in committed.items())


async def drain(bootstrap: str, timeout_s: float) -> None:
    """Returns once nothing is left to consume, or after `timeout_s` saying on stderr how much is."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await admin.start()
    await probe.start()
    try:
        deadline = time.monotonic() + timeout_s
        while (left := await lag(admin, probe)) > 0:
            if time.monotonic() > deadline:
                print(f"  (the platform still had {left} messages to consume after {timeout_s:.0f}s; going on)",
                      file=sys.stderr)
                return
            await asyncio.sleep(0.5)
    finally:
        await probe.stop()
        await admin.close()
