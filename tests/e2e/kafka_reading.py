"""Reading what the platform wrote to a topic, from the beginning, until a condition holds."""

import asyncio
import time

from aiokafka import AIOKafkaConsumer


async def read_until(bootstrap: str, topic: str, done, timeout_s: float = 60) -> list:
    """Messages of `topic` from the beginning until `done(messages)` holds."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    messages = []
    deadline = time.monotonic() + timeout_s
    try:
        while not done(messages):
            if time.monotonic() > deadline:
                raise AssertionError(f"{topic}: condition not met after {timeout_s}s ({len(messages)} messages)")
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                messages.extend(records)
    finally:
        await consumer.stop()
    return messages


def read_until_sync(*args, **kwargs) -> list:
    return asyncio.run(read_until(*args, **kwargs))
