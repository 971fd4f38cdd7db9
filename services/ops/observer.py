"""The observer: reads every partition of every platform topic and keeps the live figures;
reads the dead-letter topic whole, so the list survives a restart of the ops service."""

import json
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from services.ops.figures import Figures, Seen
from shared.contracts import RequestEvent
from shared.kafka.consuming import Runner
from shared.topics import BY_NAME, DEAD_LETTERS, TOPICS, Topic


@dataclass(frozen=True)
class DeadLetter:
    id: str  # <partition>-<offset> on ops.dead-letters
    at: float
    reason: str
    source_topic: str
    source_partition: int
    source_offset: int
    tenant: str
    type: str
    key: bytes | None
    value: bytes | None
    headers: tuple

    def as_json(self) -> dict:
        return {"id": self.id, "at": self.at, "reason": self.reason, "source_topic": self.source_topic,
                "source_partition": self.source_partition, "source_offset": self.source_offset,
                "tenant": self.tenant, "type": self.type,
                "value_preview": (self.value or b"")[:300].decode(errors="replace")}


def _header(headers, name: str, default: str = "") -> str:
    return next((v.decode(errors="replace") for k, v in headers if k == name), default)


def dead_letter(message: ConsumerRecord) -> DeadLetter:
    h = message.headers
    return DeadLetter(
        id=f"{message.partition}-{message.offset}", at=message.timestamp / 1000, reason=_header(h, "hps_dlq_reason"),
        source_topic=_header(h, "hps_dlq_topic"), source_partition=int(_header(h, "hps_dlq_partition", "-1")),
        source_offset=int(_header(h, "hps_dlq_offset", "-1")), tenant=_header(h, "ce_tenant", "untagged"),
        type=_header(h, "ce_type", "unknown"), key=message.key, value=message.value, headers=tuple(h))


def seen(message: ConsumerRecord) -> Seen:
    """Tenant and type from the ce_* headers; id and subject from the envelope if it parses. The
    service is the topic's (`it.requests`: it), or for a dead letter its source topic's: whoever
    published the event, the gateway included, it is that service's traffic."""
    try:
        envelope = json.loads(message.value)
    except (TypeError, ValueError):
        envelope = {}
    envelope = envelope if isinstance(envelope, dict) else {}
    topic = _header(message.headers, "hps_dlq_topic") if message.topic == DEAD_LETTERS else message.topic
    return Seen(at=message.timestamp / 1000, topic=message.topic, partition=message.partition, offset=message.offset,
                tenant=_header(message.headers, "ce_tenant", "untagged"),
                type=_header(message.headers, "ce_type", "unknown"), service=topic.split(".")[0] or "unknown",
                id=str(envelope.get("id", "")), subject=envelope.get("subject"))


class Observer:
    def __init__(self, bootstrap: str, figures: Figures):
        self.bootstrap, self.figures = bootstrap, figures
        self.dead_letters: dict[str, DeadLetter] = {}

    def runners(self, dead_letters: AIOKafkaProducer) -> list[Runner]:
        # Live figures: every partition, from the end; what happened while ops was down is in the lag,
        # not here. No group: each instance of ops sees every event, so each shows the same dashboard.
        platform = self._every_partition([t for t in TOPICS if t.name != DEAD_LETTERS], "latest")
        # The dead letters, whole, from the beginning at every start.
        letters = self._every_partition([BY_NAME[DEAD_LETTERS]], "earliest")
        return [Runner("observer", platform, self._platform, group=None, dead_letters=dead_letters),
                Runner("dead-letters", letters, self._dead_letter, group=None, dead_letters=None)]

    def _every_partition(self, topics: list[Topic], start: str) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                                    auto_offset_reset=start)
        consumer.assign([TopicPartition(t.name, p) for t in topics for p in range(t.partitions)])
        return consumer

    async def _platform(self, messages: list[ConsumerRecord]) -> None:
        [message] = messages
        event = seen(message)
        self.figures.record(event)
        if RequestEvent.kind(event.type) is RequestEvent.SLA_BREACHED:
            data = json.loads(message.value).get("data", {})
            self.figures.record_breach({"at": event.at, "tenant": event.tenant, "service": event.service,
                                        "request_id": data.get("request_id"), "priority": data.get("priority"),
                                        "status": data.get("status"), "sla_due_at": data.get("sla_due_at")})

    async def _dead_letter(self, messages: list[ConsumerRecord]) -> None:
        [message] = messages
        letter = dead_letter(message)
        self.dead_letters[letter.id] = letter
        self.figures.record(seen(message))
