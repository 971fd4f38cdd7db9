"""Reading what the platform wrote to a topic, from the beginning, until a condition holds."""

import asyncio
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.topics import BY_NAME


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


async def read_all(bootstrap: str, topic: str) -> list:
    """Every message of `topic` written before the call."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(BY_NAME[topic].partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        messages = []
        while True:
            positions = {tp: await consumer.position(tp) for tp in partitions}
            if all(positions[tp] >= ends[tp] for tp in partitions):
                return messages
            for records in (await consumer.getmany(timeout_ms=500)).values():
                messages.extend(records)
    finally:
        await consumer.stop()
