"""The recharge engine's consumer: charges and shared costs from Kafka into the ledger."""

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from services.finance.ledger.book import Ledger
from shared import metrics
from shared.events import EventCodec, InvalidEvent
from shared.kafka.consuming import Refusals, Runner
from shared.logging import get_logger
from shared.topics import CHARGES, SHARED_COSTS

GROUP = "hps-finance-ledger"
log = get_logger("finance-ledger")


class RechargeEngine:
    def __init__(self, ledger: Ledger, codec: EventCodec):
        self.ledger, self.codec = ledger, codec

    def runner(self, bootstrap: str, dead_letters: AIOKafkaProducer, topics=(CHARGES, SHARED_COSTS),
               group: str = GROUP) -> Runner:
        consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=group,
                                    enable_auto_commit=False, auto_offset_reset="earliest")
        return Runner("recharge-engine", consumer, self.handle, group=group, dead_letters=dead_letters, batch=True)

    async def handle(self, messages: list[ConsumerRecord]) -> Refusals:
        """Post a fetched batch in one transaction; returns what could not be posted."""
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
        return refused
