"""Feeds the read model from every service's events topic, so the API shows what the workers did."""

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord

from services.gateway.store import Requests
from shared.consuming import Runner
from shared.contracts import RequestSnapshot, TransitionRefused
from shared.events import EventCodec
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
        if event.type.endswith(".request.changed"):
            requests.apply(event.tenant, RequestSnapshot.model_validate(event.data), at)
        elif event.type.endswith(".request.transition-refused"):
            refusal = TransitionRefused.model_validate(event.data)
            requests.refused(str(refusal.request_id), refusal.reason, at)
        else:
            requests.skipped(at)

    # A refused event is passed in the read model's own positions too, or a restart would refuse it again.
    return Runner("read-model", consumer, handle, group=group, dead_letters=dead_letters,
                  skip=lambda m: requests.skipped((m.topic, m.partition, m.offset)))
