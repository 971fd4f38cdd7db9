"""Tenant-tagged CloudEvents through the real broker with every client the platform uses."""

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

from shared.events import EventCodec
from shared.kafka import bus
from shared.tenants import Registry

ROOT = Path(__file__).resolve().parents[2]
codec = EventCodec(Registry.load())


def a_shared_cost(tenant: str = "council"):
    return codec.build(
        "uk.hps.finance.shared-cost.recorded", "/hps/finance", tenant,
        {"cost_id": str(uuid.uuid4()), "service": "it", "description": "Network contract",
         "amount": "1234.56", "period": "2026-10", "basis": "sites", "recorded_by": "finance"},
    )


def new_topic(bootstrap: str, partitions: int = 3) -> str:
    name = f"test.{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(name, partitions, 1)])
    admin.close()
    return name


async def consume(bootstrap: str, topic: str, count: int, group: str | None = None, timeout_s: float = 60):
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    received = []
    try:
        async with asyncio.timeout(timeout_s):
            async for message in consumer:
                received.append(message)
                if len(received) == count:
                    break
        if group:
            await consumer.commit()
    finally:
        await consumer.stop()
    return received


async def test_a_faust_agent_receives_and_republishes_the_event_intact(kafka_bootstrap, tmp_path):
    source, target = new_topic(kafka_bootstrap), new_topic(kafka_bootstrap)
    worker = subprocess.Popen([sys.executable, "-m", "tests.integration.faust_echo", kafka_bootstrap, source, target,
                               str(tmp_path)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ)
    try:
        # The council records a shared cost; the hospital another.
        sent = [a_shared_cost("council"), a_shared_cost("hospital")]
        producer = bus.producer(kafka_bootstrap)
        await producer.start()
        for event in sent:
            await bus.publish(producer, codec, source, event, key=event.tenant)
        await producer.stop()

        received = await consume(kafka_bootstrap, target, len(sent), timeout_s=120)
        decoded = [codec.decode(m.value, m.headers) for m in received]
        assert sorted(decoded, key=lambda e: e.tenant) == sorted(sent, key=lambda e: e.tenant)
        for message in received:
            headers = dict(message.headers)
            assert headers["ce_tenant"] == message.key
            assert headers["ce_type"] == b"uk.hps.finance.shared-cost.recorded"
        # The worker is still up after passing both events on: it did not crash on the way.
        still_running = worker.poll() is None
    finally:
        worker.terminate()
        _, err = worker.communicate(timeout=60)
    assert still_running, f"the faust worker exited early with {worker.returncode}: {err.decode(errors='replace')}"
    # SIGTERM stops it cleanly.
    assert worker.returncode == 0, err.decode(errors="replace")


async def test_aiokafka_and_kafka_python_producers_feed_one_consumer_group(kafka_bootstrap):
    topic = new_topic(kafka_bootstrap)
    from_aiokafka = [a_shared_cost("council") for _ in range(5)]
    from_kafka_python = [a_shared_cost("ccg") for _ in range(5)]

    producer = bus.producer(kafka_bootstrap)
    await producer.start()
    for event in from_aiokafka:
        await bus.publish(producer, codec, topic, event, key=event.tenant)
    await producer.stop()

    sync_producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for event in from_kafka_python:
        key, value, headers = codec.encode(event, event.tenant)
        sync_producer.send(topic, value=value, key=key, headers=headers).get(timeout=30)
    sync_producer.close()

    group = f"test-group-{uuid.uuid4().hex[:6]}"
    first = await consume(kafka_bootstrap, topic, 6, group=group)
    # A second member of the same group resumes after the committed offsets: nothing twice.
    consumer = KafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, group_id=group,
                             auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=10_000)
    rest = [m for _, m in zip(range(4), consumer)]
    consumer.close()

    ids = [codec.decode(m.value, m.headers).id for m in first + rest]
    assert sorted(ids) == sorted(e.id for e in from_aiokafka + from_kafka_python)
