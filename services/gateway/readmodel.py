"""Feeds the read model from every service's events topic, so the API shows what the workers did:
each request as it is, its history, and the outcome of every command."""

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord

from services.gateway.store import Requests
from shared.contracts import PayrollCharged, RequestEvent, RequestSnapshot, TransitionRefused
from shared.contracts.names import PAYROLL_CHARGED
from shared.events import EventCodec
from shared.kafka.consuming import Runner
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


def runner(bootstrap: str, group: str, codec: EventCodec, requests: Requests,
           dead_letters: AIOKafkaProducer) -> Runner:
    # The group shares partitions between gateways on one database and shows the lag to ops.
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    consumer.subscribe([events_topic(s) for s in SERVICES], listener=ResumeFromDatabase(consumer, requests))

    async def handle(messages: list[ConsumerRecord]) -> None:
        [message] = messages
        at = (message.topic, message.partition, message.offset)
        event = codec.decode(message.value, message.headers)
        kind = RequestEvent.kind(event.type)
        if kind is RequestEvent.CHANGED:
            requests.apply(str(event.id), event.tenant, RequestSnapshot.model_validate(event.data), at)
        elif kind is RequestEvent.TRANSITION_REFUSED:
            service = message.topic.removesuffix(".events")
            requests.refused(str(event.id), event.tenant, service, TransitionRefused.model_validate(event.data), at)
        elif event.type == PAYROLL_CHARGED:
            requests.payroll_charged(event.tenant, PayrollCharged.model_validate(event.data), at)
        else:
            requests.skipped(at)

    # A refused event is passed in the read model's own positions too, or a restart would refuse it again.
    return Runner("read-model", consumer, handle, group=group, dead_letters=dead_letters,
                  skip=lambda m: requests.skipped((m.topic, m.partition, m.offset)))
