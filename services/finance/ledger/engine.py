"""The recharge engine's consumer: charges and shared costs from Kafka into the ledger."""

import asyncio

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from services.finance.ledger.book import Conflict, Ledger, Unpostable
from shared import bus
from shared.consuming import consume
from shared.events import EventCodec, InvalidEvent
from shared.logging import get_logger
from shared.topics import CHARGES, SHARED_COSTS

GROUP = "hps-finance-ledger"
log = get_logger("finance-ledger")


class RechargeEngine:
    def __init__(self, bootstrap: str, ledger: Ledger, codec: EventCodec):
        self.bootstrap, self.ledger, self.codec = bootstrap, ledger, codec
        self.stopping = asyncio.Event()

    async def run(self, ready: asyncio.Event | None = None) -> None:
        consumer = AIOKafkaConsumer(CHARGES, SHARED_COSTS, bootstrap_servers=self.bootstrap, group_id=GROUP,
                                    enable_auto_commit=False, auto_offset_reset="earliest")
        self.producer = bus.producer(self.bootstrap)
        await self.producer.start()
        await consumer.start()
        if ready:
            ready.set()
        try:
            await consume(consumer, self.handle, self.stopping)
        finally:
            await consumer.stop()
            await self.producer.stop()

    async def handle(self, message: ConsumerRecord) -> None:
        try:
            event = self.codec.decode(message.value, message.headers)
            applied = self.ledger.apply(event)
        except (InvalidEvent, Conflict, Unpostable) as exc:
            log.warning("dead_letter", reason=str(exc), topic=message.topic, offset=message.offset)
            await bus.send_dead_letter(self.producer, str(exc), message.topic, message.partition, message.offset,
                                       message.key, message.value, message.headers)
            return
        log.info("applied" if applied else "duplicate", event_id=str(event.id), tenant=event.tenant, type=event.type)
