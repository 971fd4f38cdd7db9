"""The local broker keeps every acknowledged message across a stop and a start."""

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer

from deploy.kafka_local import LocalKafka
from shared.kafka import bus
from shared.topics import Topic
from tests.conftest import free_ports


async def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = bus.producer(bootstrap)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()


async def read_all(bootstrap: str, topic: str, expected: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                group_id=None, enable_auto_commit=False)
    await consumer.start()
    values = []
    try:
        async with asyncio.timeout(60):
            async for message in consumer:
                values.append(message.value)
                if len(values) == expected:
                    break
    finally:
        await consumer.stop()
    return values


async def test_a_restart_keeps_every_acknowledged_message(tmp_path):
    # This test owns its broker: stopping the session's one would pull it from under the others.
    broker = LocalKafka(tmp_path / "kafka", *free_ports(2))
    await asyncio.to_thread(broker.start)
    try:
        topic = Topic("test.durable", 3, -1, "restart test")
        await asyncio.to_thread(bus.ensure_topics, broker.bootstrap, [topic])
        before = [f"before-{uuid.uuid4()}".encode() for _ in range(500)]
        await produce(broker.bootstrap, topic.name, before)

        await asyncio.to_thread(broker.stop)
        assert not broker.running()
        await asyncio.to_thread(broker.start)

        after = [b"after-restart"]
        await produce(broker.bootstrap, topic.name, after)
        assert sorted(await read_all(broker.bootstrap, topic.name, 501)) == sorted(before + after)
    finally:
        await asyncio.to_thread(broker.stop)
