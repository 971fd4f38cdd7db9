"""Feeds the read model from every service's events topic, so the API shows what the workers did."""

import asyncio

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener

from services.gateway.store import Requests
from shared.contracts import RequestSnapshot, TransitionRefused
from shared.events import EventCodec, InvalidEvent
from shared.logging import get_logger
from shared.topics import SERVICES, events_topic

log = get_logger("gateway")


class ResumeFromDatabase(ConsumerRebalanceListener):
    """Each assigned partition resumes where the read model's own database says it stopped."""

    def __init__(self, consumer: AIOKafkaConsumer, requests: Requests):
        self.consumer, self.requests = consumer, requests

    async def on_partitions_revoked(self, revoked) -> None:
        pass

    async def on_partitions_assigned(self, assigned) -> None:
        stored = self.requests.positions()
        for tp in assigned:
            self.consumer.seek(tp, stored.get((tp.topic, tp.partition), 0))


async def follow(bootstrap: str, group: str, codec: EventCodec, requests: Requests, ready: asyncio.Event) -> None:
    # The group shares partitions between gateways on one database and shows the lag to ops.
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=True)
    consumer.subscribe([events_topic(s) for s in SERVICES], listener=ResumeFromDatabase(consumer, requests))
    await consumer.start()
    ready.set()
    try:
        async for message in consumer:
            at = (message.topic, message.partition, message.offset)
            try:
                event = codec.decode(message.value, message.headers)
            except InvalidEvent as exc:
                # The worker that owns the topic wrote it; a bad one is logged, not served.
                log.warning("unreadable_event", topic=message.topic, offset=message.offset, reason=str(exc))
                requests.skipped(at)
                continue
            if event.type.endswith(".request.changed"):
                requests.apply(event.tenant, RequestSnapshot.model_validate(event.data), at)
            elif event.type.endswith(".request.transition-refused"):
                refusal = TransitionRefused.model_validate(event.data)
                requests.refused(str(refusal.request_id), refusal.reason, at)
            else:
                requests.skipped(at)
    finally:
        await consumer.stop()
