"""Feeds the read model from every service's events topic, so the API shows what the workers did:
each request as it is, its history, and the outcome of every command."""

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord
from pydantic import ValidationError

from services.gateway.store import Projection, Requests
from shared.api.outcomes import Waiters
from shared.contracts import PayrollCharged, RequestEvent, RequestSnapshot, TransitionRefused
from shared.contracts.names import PAYROLL_CHARGED
from shared.events import Event, EventCodec, InvalidEvent
from shared.kafka.consuming import Refusals, Runner
from shared.topics import SERVICES, events_topic


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


def runner(bootstrap: str, group: str, codec: EventCodec, requests: Requests, waiters: Waiters,
           dead_letters: AIOKafkaProducer) -> Runner:
    # The group shares partitions between gateways on one database and shows the lag to ops.
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    consumer.subscribe([events_topic(s) for s in SERVICES], listener=ResumeFromDatabase(consumer, requests))

    async def handle(messages: list[ConsumerRecord]) -> Refusals:
        """One partition's fetch, in one transaction; a message that is not a valid event is refused."""
        projection, refused = Projection(), []
        for message in messages:
            projection.passed(message.topic, message.partition, message.offset)
            try:
                _project(projection, codec.decode(message.value, message.headers), message.topic)
            except (InvalidEvent, ValidationError) as exc:
                refused.append((message, exc))
        await asyncio.to_thread(requests.write, projection)  # the API's callers are served meanwhile
        waiters.wake(projection.decisions)
        return refused

    # A refused event is passed in the read model's own positions too, or a restart would refuse it again.
    return Runner("read-model", consumer, handle, group=group, dead_letters=dead_letters, batch=True, max_records=2000,
                  skip=lambda m: requests.write(Projection().passed(m.topic, m.partition, m.offset)))


def _project(projection: Projection, event: Event, topic: str) -> None:
    kind = RequestEvent.kind(event.type)
    if kind is RequestEvent.CHANGED:
        projection.applied(str(event.id), event.tenant, RequestSnapshot.model_validate(event.data))
    elif kind is RequestEvent.TRANSITION_REFUSED:
        service = topic.removesuffix(".events")
        projection.refused(str(event.id), event.tenant, service, TransitionRefused.model_validate(event.data))
    elif event.type == PAYROLL_CHARGED:
        projection.payroll_charged(event.tenant, PayrollCharged.model_validate(event.data))
