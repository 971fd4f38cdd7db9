"""Reading what the platform wrote to its topics, and waiting until a consumer group has read it."""

import asyncio
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.events import Event, EventCodec, InvalidEvent
from shared.tenants import Registry
from shared.topics import BY_NAME, requests_topic

codec = EventCodec(Registry.load())


def partitions_of(*topics: str) -> list[TopicPartition]:
    return [TopicPartition(t, p) for t in topics for p in range(BY_NAME[t].partitions)]


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


async def end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    """Where each partition of `topic` ends now: the offset the next message will get."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        return await consumer.end_offsets(partitions_of(topic))
    finally:
        await consumer.stop()


async def read_all(bootstrap: str, *topics: str) -> list:
    """Every message of `topics` written before the call."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = partitions_of(*topics)
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


async def await_group_past(bootstrap: str, group: str, topic: str, timeout_s: float = 60) -> None:
    """Wait until consumer group `group` has committed past every message on `topic` written before
    the call. The platform's consumers commit only after handling (and publishing what a message
    caused), so from then on everything those messages led to is on its topics."""
    ends = {tp: end for tp, end in (await end_offsets(bootstrap, topic)).items() if end > 0}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            committed = await admin.list_consumer_group_offsets(group, partitions=list(ends))
            behind = {f"{tp.topic}[{tp.partition}]": (committed[tp].offset if tp in committed else None, end)
                      for tp, end in ends.items() if tp not in committed or committed[tp].offset < end}
            if not behind:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{group} has not committed past {topic} after {timeout_s}s: "
                                     f"(committed, end) {behind}")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def submitted_events(bootstrap: str, request_id: str, service: str = "it") -> list[Event]:
    """Every event published on the service's requests topic for `request_id`, up to now."""
    messages = await read_all(bootstrap, requests_topic(service))
    return [codec.decode(m.value, m.headers) for m in messages if m.key == request_id.encode()]


def events_of(messages) -> list[Event]:
    """The events among `messages`; other tests put garbage on the same topics on purpose."""
    events = []
    for m in messages:
        try:
            events.append(codec.decode(m.value, m.headers))
        except InvalidEvent:
            pass
    return events
