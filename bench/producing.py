"""Stage 3: producing charge events through the project's codec (bench/ledger.py's `produce`: each
event built, validated and encoded, then sent by `bus.publish_all`) beside a raw aiokafka producer
sending the same kind of events encoded beforehand: in record batches (`create_batch`/`send_batch`,
the ratio's base) and one `send` each. All acks=all, idempotent, linger 10 ms, each to a fresh
6-partition topic, until the broker has acknowledged every event."""

import asyncio
import time
import uuid

from aiokafka import AIOKafkaProducer

from bench import ledger
from bench.platform import Platform
from bench.report import Row
from shared.kafka import bus
from shared.topics import Topic

TARGET = 50_000
Message = tuple[bytes | None, bytes, list[tuple[str, bytes]]]


def fresh_topic(bootstrap: str, purpose: str) -> str:
    topic = Topic(f"bench.{purpose}-{uuid.uuid4().hex[:6]}", 6, -1, f"benchmark: {purpose}")
    bus.ensure_topics(bootstrap, [topic])
    return topic.name


async def send_all(bootstrap: str, topic: str, messages: list[Message], batched: bool) -> float:
    """Messages per second, as a raw producer sends bytes it is given."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=10)
    await producer.start()
    started = time.perf_counter()
    try:
        if batched:
            batches = bus.Batches(producer)
            for key, value, headers in messages:
                await batches.add(topic, key, value, headers)
            await batches.delivered()
        else:
            await asyncio.gather(*[await producer.send(topic, value, key=key, headers=headers)
                                   for key, value, headers in messages])
    finally:
        await producer.stop()
    return len(messages) / (time.perf_counter() - started)


async def measure(platform: Platform, events: int) -> list[Row]:
    bootstrap = platform.bootstrap
    encoded = [ledger.codec.encode(ledger.charge_event(i, "2026-10"), ledger.TENANTS[i % 3]) for i in range(events)]
    raw = await send_all(bootstrap, fresh_topic(bootstrap, "raw-producer"), encoded, batched=True)
    one_by_one = await send_all(bootstrap, fresh_topic(bootstrap, "raw-send"), encoded, batched=False)
    usage = platform.usage("producer", "bench").start()
    rate = await ledger.produce(bootstrap, fresh_topic(bootstrap, "producer"), events)
    usage.stop()
    return [Row(f"3. producer, the project's codec (`bench.ledger.produce`), acks=all, idempotent, {events:,} events",
                f"{rate:,.0f} events/s", f"raw aiokafka producer, pre-encoded bytes: {raw:,.0f} events/s in batches "
                f"({one_by_one:,.0f} by `send`)",
                rate / raw, f"≥ {TARGET:,} events/s", rate >= TARGET, usage.busiest(events, "event"))]
