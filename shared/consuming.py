"""The consume loop every worker shares: handle each message in partition order, then commit."""

import asyncio
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord


async def consume(consumer: AIOKafkaConsumer, handle: Callable[[ConsumerRecord], Awaitable[None]],
                  stopping: asyncio.Event, max_records: int = 500) -> None:
    """Offsets are committed only after every message of a batch was handled: at least once."""
    while not stopping.is_set():
        batches = await consumer.getmany(timeout_ms=500, max_records=max_records)
        for messages in batches.values():
            for message in messages:
                await handle(message)
        if batches:
            await consumer.commit()
