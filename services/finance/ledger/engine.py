"""The recharge engine's consumer: charges, shared costs and withdrawals from Kafka into the ledger.

What the ledger refuses is recorded with the batch and told on `finance.refusals` before the
batch's offsets are committed: a crash in between redelivers the batch, the ledger answers with
the refusals it recorded, and they are told again under the same ids. Only a message that is not
an event, or an event id reused with other content, is a dead letter.
"""

import asyncio
from collections import Counter

from aiokafka import AIOKafkaProducer, ConsumerRecord

from services.finance.ledger.book import Ledger
from services.finance.ledger.entries import Unpostable, refusal_id
from shared import metrics
from shared.contracts import FinanceCommandRefused
from shared.contracts.names import FINANCE_COMMAND_REFUSED
from shared.events import Event, EventCodec, InvalidEvent
from shared.kafka import bus
from shared.kafka.consuming import Refusals, Runner, group_consumer
from shared.logging import get_logger
from shared.topics import CHARGES, DISPUTES, FINANCE_REFUSALS, SHARED_COSTS

GROUP = "hps-finance-ledger"
# Big fetches, each posted in one transaction: its round trips and commit are shared by thousands of charges.
MAX_RECORDS, PARTITION_FETCH_BYTES = 5000, 4 << 20
log = get_logger("finance-ledger")


class RechargeEngine:
    def __init__(self, ledger: Ledger, codec: EventCodec, producer: AIOKafkaProducer):
        """`producer` (started, acknowledged, retrying) tells the refusals and sends the dead letters."""
        self.ledger, self.codec, self.producer = ledger, codec, producer

    def runner(self, bootstrap: str, topics=(CHARGES, SHARED_COSTS, DISPUTES), group: str = GROUP) -> Runner:
        # No positions of its own: each event is posted once under its id, by whichever instance has it.
        consumer = group_consumer(bootstrap, group, max_partition_fetch_bytes=PARTITION_FETCH_BYTES)
        return Runner("recharge-engine", consumer, self.handle, group=group, topics=topics,
                      dead_letters=self.producer, batch=True, max_records=MAX_RECORDS)

    async def handle(self, messages: list[ConsumerRecord]) -> Refusals:
        """Post a fetched batch in one transaction, tell what it refused; returns what is a dead letter."""
        decoded, dead = [], []
        for message in messages:
            try:
                event = self.codec.decode(message.value, message.headers)
                metrics.consumed(message.topic, event.tenant, event.type)
                decoded.append((message, event))
            except InvalidEvent as exc:
                dead.append((message, exc))
        with metrics.timed("ledger.batch"):
            # In a thread of its own: the finance API, in the same process, answers while a batch waits
            # for the writers' lock (a close) or the database.
            results = await asyncio.to_thread(self.ledger.apply_all, [event for _, event in decoded])
        counts: Counter[str] = Counter()
        for (message, event), result in zip(decoded, results):
            if isinstance(result, Unpostable):
                counts["refused"] += 1
                metrics.error("refused")
                log.info("refused", event_id=str(event.id), tenant=event.tenant, type=event.type, code=result.code,
                         reason=result.reason[:500])
                await self.tell(event, result)
            elif isinstance(result, Exception):
                dead.append((message, result))
            else:
                counts["applied" if result else "duplicates"] += 1
        # One line a batch: at thousands of charges a second, a line each would cost more than posting them;
        # each applied event is on record in the ledger, with its time.
        log.info("batch", topic=messages[0].topic, partition=messages[0].partition, first_offset=messages[0].offset,
                 **counts, dead_letters=len(dead))
        return dead

    async def tell(self, event: Event, refusal: Unpostable) -> None:
        """Publish the refusal of `event` (acknowledged), keyed by its tenant, under an id derived from it."""
        told = self.refusal_event(event, refusal)
        await bus.publish(self.producer, self.codec, FINANCE_REFUSALS, told, told.tenant)

    def refusal_event(self, event: Event, refusal: Unpostable) -> Event:
        data = FinanceCommandRefused(command_id=event.id, command=event.type[:100], subject=refusal.subject,
                                     code=refusal.code, reason=refusal.reason[:4000], refused_at=refusal.refused_at)
        return self.codec.build(FINANCE_COMMAND_REFUSED, "/hps/finance", event.tenant, data,
                                subject=refusal.subject, id=refusal_id(event.id))
