"""The consume loop every worker shares: handle each message in partition order, then commit."""

import asyncio
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord


async def consume(consumer: AIOKafkaConsumer, handle: Callable[[list[ConsumerRecord]], Awaitable[None]],
                  stopping: asyncio.Event, max_records: int = 500) -> None:
    """Hand each fetched batch (per partition, in order) to `handle`; offsets are committed only
    after the whole fetch was handled: at least once."""
    while not stopping.is_set():
        batches = await consumer.getmany(timeout_ms=500, max_records=max_records)
        for messages in batches.values():
            await handle(messages)
        if batches:
            await consumer.commit()
