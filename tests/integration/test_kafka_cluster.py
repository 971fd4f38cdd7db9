"""A three-node local cluster loses the leader of a partition: writes acknowledged by all in-sync
replicas go on with two nodes, a consumer group reads every acknowledged message once, and the node
comes back on its own data and catches up."""

import asyncio
import time
import uuid
from collections import Counter

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from deploy.kafka_local import LocalKafka
from shared.kafka import bus

PARTITIONS = 3


def create_topic(bootstrap: str, name: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, PARTITIONS, 3, topic_configs={"min.insync.replicas": "2"})])
    finally:
        admin.close()


def in_sync(cluster: LocalKafka, topic: str) -> list[set[int]]:
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    try:
        return [set(p["isr_nodes"]) for p in admin.describe_topics([topic])[0]["partitions"]]
    finally:
        admin.close()


async def produce(producer: AIOKafkaProducer, topic: str, label: str, count: int) -> list[bytes]:
    """Every value is sent to each partition in turn; returns those acknowledged (send_and_wait raises otherwise)."""
    acknowledged = []
    for i in range(count):
        value = f"{label}-{i}-{uuid.uuid4()}".encode()
        await producer.send_and_wait(topic, value, partition=i % PARTITIONS)
        acknowledged.append(value)
    return acknowledged


async def read(consumer: AIOKafkaConsumer, expected: int) -> list[bytes]:
    """The next `expected` values, then one more fetch, so a duplicate would show; commits what it read."""
    values: list[bytes] = []
    async with asyncio.timeout(45):
        while len(values) < expected:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                values += [r.value for r in records]
    for records in (await consumer.getmany(timeout_ms=1000)).values():
        values += [r.value for r in records]
    await consumer.commit()
    return values


@pytest.mark.timeout(90, func_only=True)
async def test_the_leader_of_a_partition_dies_and_two_nodes_carry_on(kafka_cluster):
    cluster = kafka_cluster
    assert cluster.node_ids() == [1, 2, 3] and len(cluster.bootstrap.split(",")) == 3

    # A topic with a copy on every node; a write is acknowledged once two copies hold it.
    topic = f"test.cluster.{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(create_topic, cluster.bootstrap, topic)
    assert await asyncio.to_thread(in_sync, cluster, topic) == [{1, 2, 3}] * PARTITIONS

    producer = bus.producer(cluster.bootstrap)  # acks=all, idempotent
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=cluster.bootstrap, group_id=f"test-{uuid.uuid4()}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await producer.start()
    await consumer.start()
    try:
        # The group reads and commits while all three nodes run (its offsets topic needs three to be created).
        before = await produce(producer, topic, "before", 150)
        read_before = await read(consumer, len(before))

        # The leader of partition 0 dies without a word: no controlled shutdown, nothing flushed.
        victim = await asyncio.to_thread(cluster.leader, topic, 0)
        await asyncio.to_thread(cluster.kill_node, victim)
        killed_at = time.monotonic()
        assert victim not in cluster.live_node_ids()

        # The same producer and group go on with two nodes.
        after = await produce(producer, topic, "after", 150)
        failed_over_s = time.monotonic() - killed_at
        read_after = await read(consumer, len(after))
        assert await asyncio.to_thread(cluster.leader, topic, 0) != victim
    finally:
        await consumer.stop()
        await producer.stop()

    # Every acknowledged message was read back, and once.
    assert Counter(read_before + read_after) == Counter(before + after)

    # The node comes back on its own data and rejoins every partition's in-sync replicas.
    await asyncio.to_thread(cluster.start_node, victim)
    assert cluster.live_node_ids() == [1, 2, 3]
    async with asyncio.timeout(30):
        while await asyncio.to_thread(in_sync, cluster, topic) != [{1, 2, 3}] * PARTITIONS:
            await asyncio.sleep(0.5)
    print(f"node {victim} killed; writes went on after {failed_over_s:.1f}s; "
          f"{len(before) + len(after)} messages read back once")
