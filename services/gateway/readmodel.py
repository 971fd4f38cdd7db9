"""Feeds the read model from every service's events topic, so the API shows what the workers did:
each request as it is, its history, and the outcome of every command."""

import asyncio

from aiokafka import AIOKafkaProducer, ConsumerRecord
from pydantic import ValidationError

from services.gateway.store import Projection, Requests
from shared.api.outcomes import Waiters
from shared.contracts import PayrollCharged, RequestEvent, RequestSnapshot, TransitionRefused
from shared.contracts.names import PAYROLL_CHARGED
from shared.events import Event, EventCodec, InvalidEvent
from shared.kafka.consuming import Refusals, Runner, group_consumer
from shared.kafka.positions import handled
from shared.topics import SERVICES, events_topic


def runner(bootstrap: str, group: str, codec: EventCodec, requests: Requests, waiters: Waiters,
           dead_letters: AIOKafkaProducer) -> Runner:
    """The group shares partitions between gateways on one database and shows the lag to ops; the
    database's positions (`requests.positions`) say where each partition resumes."""

    async def handle(messages: list[ConsumerRecord]) -> Refusals:
        """One partition's fetch, in one transaction; a message that is not a valid event is refused."""
        projection, refused = Projection(), []
        for message in messages:
            try:
                _project(projection, codec.decode(message.value, message.headers), message.topic)
            except (InvalidEvent, ValidationError) as exc:
                refused.append((message, exc))
        projection.covered = handled(messages, [m for m, _ in refused])
        await asyncio.to_thread(requests.write, projection)  # the API's callers are served meanwhile
        waiters.wake(projection.decisions)
        return refused

    return Runner("read-model", group_consumer(bootstrap, group), handle, group=group,
                  topics=[events_topic(s) for s in SERVICES], dead_letters=dead_letters, batch=True, max_records=2000,
                  positions=requests.positions)


def _project(projection: Projection, event: Event, topic: str) -> None:
    kind = RequestEvent.kind(event.type)
    if kind is RequestEvent.CHANGED:
        projection.applied(str(event.id), event.tenant, RequestSnapshot.model_validate(event.data))
    elif kind is RequestEvent.TRANSITION_REFUSED:
        service = topic.removesuffix(".events")
        projection.refused(str(event.id), event.tenant, service, TransitionRefused.model_validate(event.data))
    elif event.type == PAYROLL_CHARGED:
        projection.payroll_charged(event.tenant, PayrollCharged.model_validate(event.data))
