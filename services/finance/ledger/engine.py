"""The recharge engine's consumer: charges and shared costs from Kafka into the ledger."""

import asyncio

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from services.finance.ledger.book import Ledger
from shared import bus, metrics
from shared.consuming import consume
from shared.events import EventCodec, InvalidEvent
from shared.logging import get_logger
from shared.topics import CHARGES, SHARED_COSTS

GROUP = "hps-finance-ledger"
log = get_logger("finance-ledger")


class RechargeEngine:
    def __init__(self, bootstrap: str, ledger: Ledger, codec: EventCodec, topics=(CHARGES, SHARED_COSTS),
                 group: str = GROUP):
        self.bootstrap, self.ledger, self.codec, self.topics, self.group = bootstrap, ledger, codec, topics, group
        self.stopping = asyncio.Event()

    async def run(self, ready: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(*self.topics, bootstrap_servers=self.bootstrap, group_id=self.group,
                                    enable_auto_commit=False, auto_offset_reset="earliest")
        self.producer = bus.producer(self.bootstrap)
        await self.producer.start()
        await consumer.start()
        ready.set()
        try:
            await consume(consumer, self.handle, self.stopping)
        finally:
            await consumer.stop()
            await self.producer.stop()

    async def handle(self, messages: list[ConsumerRecord]) -> None:
        """Post a fetched batch in one transaction; whatever cannot be posted becomes a dead letter."""
        decoded, refused = [], []
        for message in messages:
            try:
                event = self.codec.decode(message.value, message.headers)
                metrics.consumed(message.topic, event.tenant, event.type)
                decoded.append((message, event))
            except InvalidEvent as exc:
                refused.append((message, exc))
        with metrics.timed("ledger.batch"):
            results = self.ledger.apply_all([event for _, event in decoded])
        for (message, event), result in zip(decoded, results):
            if isinstance(result, Exception):
                refused.append((message, result))
            else:
                log.info("applied" if result else "duplicate", event_id=str(event.id), tenant=event.tenant,
                         type=event.type)
        for message, exc in refused:
            metrics.error(type(exc).__name__)
            log.warning("dead_letter", reason=str(exc), topic=message.topic, offset=message.offset)
            await bus.send_dead_letter(self.producer, str(exc), message.topic, message.partition, message.offset,
                                       message.key, message.value, message.headers)
