"""Feeds the read model from every service's events topic, so the API shows what the workers did."""

import asyncio

from aiokafka import AIOKafkaConsumer

from services.gateway.store import Requests
from shared.contracts import RequestSnapshot, TransitionRefused
from shared.events import EventCodec, InvalidEvent
from shared.logging import get_logger
from shared.topics import SERVICES, events_topic

GROUP = "hps-gateway-readmodel"
log = get_logger("gateway")


async def follow(bootstrap: str, codec: EventCodec, requests: Requests, ready: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(*(events_topic(s) for s in SERVICES), bootstrap_servers=bootstrap,
                                group_id=GROUP, auto_offset_reset="earliest", enable_auto_commit=True)
    await consumer.start()
    ready.set()
    try:
        async for message in consumer:
            try:
                event = codec.decode(message.value, message.headers)
            except InvalidEvent as exc:
                # The worker that owns the topic wrote it; a bad one is logged, not served.
                log.warning("unreadable_event", topic=message.topic, offset=message.offset, reason=str(exc))
                continue
            if event.type.endswith(".request.changed"):
                requests.apply(event.tenant, RequestSnapshot.model_validate(event.data))
            elif event.type.endswith(".request.transition-refused"):
                refusal = TransitionRefused.model_validate(event.data)
                requests.refused(str(refusal.request_id), refusal.reason)
    finally:
        await consumer.stop()
