"""The CloudEvents 1.0 envelope with the `tenant` extension, and its Kafka codec.

Structured mode through the CloudEvents SDK's Kafka binding, plus `ce_type` and `ce_tenant`
headers so tools can filter without parsing values. Every event is validated on the way out
and on the way in; anything wrong raises `InvalidEvent`, which consumers turn into a dead
letter and the gateway into an HTTP 4xx.
"""

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID, uuid4

from cloudevents.v1.exceptions import GenericException as CloudEventsError
from cloudevents.v1.http import CloudEvent
from cloudevents.v1.kafka import KafkaMessage, from_structured, to_structured
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from shared.contracts import EVENT_TYPES, EventType
from shared.fields import Line
from shared.tenants import Registry


class InvalidEvent(ValueError):
    """An event that must not enter the platform; `field` names the culprit where there is one."""

    def __init__(self, reason: str, field: str | None = None):
        super().__init__(f"{field}: {reason}" if field else reason)
        self.reason = reason
        self.field = field


class Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: Literal["1.0"] = "1.0"
    id: UUID
    source: str = Field(pattern=r"^/hps/[a-z][a-z0-9/-]*$")
    type: str
    time: AwareDatetime
    subject: Line(200) | None = None
    tenant: str
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any]


Headers = Sequence[tuple[str, bytes]]


REQUIRED = ("specversion", "id", "source", "type", "time", "tenant")


def _envelope(value: bytes) -> dict[str, Any]:
    """Parse the structured envelope; the SDK would quietly fill in a missing specversion or id."""
    try:
        envelope = json.loads(value)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidEvent(f"not JSON: {exc}") from None
    if not isinstance(envelope, dict):
        raise InvalidEvent("the envelope must be a JSON object")
    for name in REQUIRED:
        if name not in envelope:
            raise InvalidEvent(f"missing {name} attribute", name)
    return envelope


class EventCodec:
    def __init__(self, registry: Registry, types: Mapping[str, EventType] = EVENT_TYPES):
        self.registry = registry
        self.types = types

    def build(
        self,
        type: str,
        source: str,
        tenant: str,
        data: BaseModel | Mapping[str, Any],
        subject: str | None = None,
        id: UUID | None = None,
    ) -> Event:
        payload = data.model_dump(mode="json") if isinstance(data, BaseModel) else dict(data)
        return self.validate(
            {"id": id or uuid4(), "source": source, "type": type, "time": datetime.now(UTC),
             "subject": subject, "tenant": tenant, "data": payload}
        )

    def validate(self, attributes: Mapping[str, Any]) -> Event:
        try:
            event = Event.model_validate(attributes)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise InvalidEvent(first["msg"], ".".join(str(p) for p in first["loc"]) or None) from None
        if event.tenant not in self.registry:
            raise InvalidEvent(f"unknown tenant {event.tenant!r}", "tenant")
        event_type = self.types.get(event.type)
        if event_type is None:
            raise InvalidEvent(f"unknown event type {event.type!r}", "type")
        try:
            data = event_type.schema.model_validate(event.data)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise InvalidEvent(first["msg"], ".".join(["data", *(str(p) for p in first["loc"])])) from None
        # Canonical form: what the schema made of the data (decimals as strings, defaults filled).
        return event.model_copy(update={"data": data.model_dump(mode="json")})

    def encode(self, event: Event, key: str | None = None) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
        """(key, value, headers) for a Kafka producer."""
        attributes = event.model_dump(mode="json", exclude={"data"}, exclude_none=True)
        message = to_structured(CloudEvent.create(attributes, event.data))
        headers = [(k, v) for k, v in message.headers.items()]
        headers += [("ce_type", event.type.encode()), ("ce_tenant", event.tenant.encode())]
        return (key.encode() if key else None), message.value, headers

    def decode(self, value: bytes | None, headers: Headers = ()) -> Event:
        if not value:
            raise InvalidEvent("empty message")
        # ce_* headers only mirror the envelope; the envelope in the value is the truth.
        content = {k: v for k, v in headers if k.lower() == "content-type"}
        try:
            cloud_event = from_structured(KafkaMessage(content, None, value), envelope_unmarshaller=_envelope)
        except CloudEventsError as exc:
            if isinstance(exc.__context__, InvalidEvent):  # raised by _envelope, wrapped by the SDK
                raise exc.__context__ from None
            raise InvalidEvent(f"not a structured CloudEvent: {exc}") from None
        attributes = dict(cloud_event.get_attributes())
        data = cloud_event.get_data()
        if not isinstance(data, dict):
            raise InvalidEvent("data must be a JSON object", "data")
        return self.validate({**attributes, "data": data})
