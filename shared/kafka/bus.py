"""Kafka adapters: topic creation, the acknowledged producer, dead letters."""

import asyncio
import time
from collections import Counter
from collections.abc import Iterable, Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError as BrokerError  # noqa: F401  (what an aiokafka send raises)
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from shared import metrics
from shared.events import Event, EventCodec
from shared.topics import DEAD_LETTERS, TOPICS, Topic

_PARTITIONER = DefaultPartitioner()  # the producer's own: a key lands where `send` would put it


REPLICAS = 3  # a topic's copies on a cluster of three brokers or more
MIN_IN_SYNC = 2  # copies that acknowledge a write (acks=all): one broker may be down, and nothing is lost


def ensure_topics(bootstrap: str, topics: Iterable[Topic] = TOPICS, timeout_s: float = 60) -> list[str]:
    """Create the declared topics that do not exist yet; returns the names created. On a cluster of
    three brokers or more they are replicated three times, with two in sync for a write; on fewer
    (a development broker), once."""
    admin = _admin(bootstrap, timeout_s)
    try:
        existing = set(admin.list_topics())
        missing = [t for t in topics if t.name not in existing]
        replicated = len(admin.describe_cluster()["brokers"]) >= REPLICAS
        for topic in missing:
            config = {**topic.config(), **({"min.insync.replicas": str(MIN_IN_SYNC)} if replicated else {})}
            try:
                admin.create_topics([NewTopic(topic.name, topic.partitions, REPLICAS if replicated else 1,
                                              topic_configs=config)])
            except TopicAlreadyExistsError:
                pass  # another process created it first
        return [t.name for t in missing]
    finally:
        admin.close()


def group_members(bootstrap: str, groups: list[str]) -> dict[str, int]:
    """The members of each group that is settled (not rebalancing); an unsettled or empty one is absent."""
    admin = _admin(bootstrap, 10)
    try:
        described = admin.describe_groups(groups)
    except KafkaError:  # no coordinator yet: no group has settled
        return {}
    finally:
        admin.close()
    return {name: len(g["members"]) for name, g in described.items() if g["group_state"] == "Stable"}


def _admin(bootstrap: str, timeout_s: float) -> KafkaAdminClient:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def producer(bootstrap: str, **overrides) -> AIOKafkaProducer:
    """Acknowledged by every in-sync replica, idempotent: a sent event is neither lost nor doubled.
    It retries until the broker answers, as a consumer's output must: it is never dropped."""
    return AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **overrides)


def api_producer(bootstrap: str, timeout_ms: int) -> AIOKafkaProducer:
    """For a caller who is waiting: acknowledged by every in-sync replica, or a BrokerError within
    `timeout_ms`, which the API answers with 503.

    Not idempotent: aiokafka never expires an idempotent producer's batch, so a caller would wait
    out a whole outage, or be told 503 about an event delivered later. A send retried after a lost
    acknowledgement carries the same event id, which every consumer applies once."""
    return AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False,
                            request_timeout_ms=timeout_ms)


async def publish(producer: AIOKafkaProducer, codec: EventCodec, topic: str, event: Event, key: str | None) -> None:
    """Returns once the broker has acknowledged the event. One event goes through `send`, so
    concurrent callers' events still share the producer's batches."""
    key_bytes, value, headers = codec.encode(event, key)
    await (await producer.send(topic, value, key=key_bytes, headers=headers))
    metrics.produced(topic, event.tenant, event.type)


async def publish_all(producer: AIOKafkaProducer, codec: EventCodec,
                      events: Iterable[tuple[str, str | None, Event]]) -> None:
    """(topic, key, event) each, in order (a generator is taken as it goes), written into record
    batches of our own rather than sent one by one: `send` costs more Python per event than the
    broker costs. Returns once the broker has every one. Events of one key keep their order: they go to
    the partition `send` would choose, in order, and the producer keeps one batch in flight per
    partition."""
    batches = Batches(producer)
    counts: Counter[tuple[str, str, str]] = Counter()
    for topic, key, event in events:
        await batches.add(topic, *codec.encode(event, key))
        counts[topic, event.tenant, event.type] += 1
    await batches.delivered()
    for labels, count in counts.items():
        metrics.produced(*labels, count=count)


class Batches:
    """Record batches built here, one open per partition, sent as each fills."""

    def __init__(self, producer: AIOKafkaProducer):
        self.producer = producer
        self.open: dict[tuple[str, int], BatchBuilder] = {}
        self.partitions: dict[str, list[int]] = {}
        self.chosen: dict[tuple[str, bytes | None], int] = {}  # murmur2 in Python: once per key
        self.sent: list[asyncio.Future] = []

    async def add(self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        partition = self.chosen.get((topic, key))
        if partition is None:
            if topic not in self.partitions:
                self.partitions[topic] = sorted(await self.producer.partitions_for(topic))
            every = self.partitions[topic]
            partition = self.chosen[topic, key] = _PARTITIONER(key, every, every)
        batch = self.open.get((topic, partition))
        if batch is None:
            batch = self.open[topic, partition] = self.producer.create_batch()
        if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:  # full
            await self._send(topic, partition)
            batch = self.open[topic, partition] = self.producer.create_batch()
            batch.append(key=key, value=value, timestamp=None, headers=headers)  # an empty batch takes any one

    async def _send(self, topic: str, partition: int) -> None:
        batch = self.open.pop((topic, partition))
        batch.close()
        self.sent.append(await self.producer.send_batch(batch, topic, partition=partition))

    async def delivered(self) -> None:
        for topic, partition in list(self.open):
            await self._send(topic, partition)
        await asyncio.gather(*self.sent)


def dead_letter_headers(reason: str, topic: str, partition: int, offset: int,
                        headers: Sequence[tuple[str, bytes]] = ()) -> list[tuple[str, bytes]]:
    """The original headers plus where the message came from and why it was refused."""
    return [
        *((k, v) for k, v in headers if not k.startswith("hps_dlq_")),
        ("hps_dlq_reason", reason.encode()[:4000]),
        ("hps_dlq_topic", topic.encode()),
        ("hps_dlq_partition", str(partition).encode()),
        ("hps_dlq_offset", str(offset).encode()),
        ("hps_dlq_at", str(time.time()).encode()),
    ]


async def send_dead_letter(producer: AIOKafkaProducer, reason: str, topic: str, partition: int, offset: int,
                           key: bytes | None, value: bytes | None,
                           headers: Sequence[tuple[str, bytes]] = ()) -> None:
    await producer.send_and_wait(DEAD_LETTERS, value, key=key,
                                 headers=dead_letter_headers(reason, topic, partition, offset, headers))
    tenant = next((v.decode(errors="replace") for k, v in headers if k == "ce_tenant"), "untagged")
    metrics.dead_lettered(topic, tenant)
