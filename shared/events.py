"""The CloudEvents 1.0 envelope with the `tenant` extension, and its Kafka codec.

Structured mode of the CloudEvents Kafka binding: the whole event, attributes and data, is one
JSON object in the message value, with `content-type: application/cloudevents+json`, plus
`ce_type` and `ce_tenant` headers so tools can filter without parsing values. Every event is
validated on the way out and on the way in; anything wrong raises `InvalidEvent`, which consumers
turn into a dead letter and the gateway into an HTTP 4xx.
"""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID, uuid4

import orjson
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
FORMAT = b"application/cloudevents+json"  # structured mode's content-type: the JSON event format
STRUCTURED = b"application/cloudevents"  # the prefix, in any case, that receivers know structured mode by


def _envelope(value: bytes, headers: Headers) -> dict[str, Any]:
    try:
        envelope = orjson.loads(value)
    except orjson.JSONDecodeError as exc:  # also bytes that are not UTF-8
        raise InvalidEvent(f"not JSON: {exc}") from None
    if not isinstance(envelope, dict):
        raise InvalidEvent("the envelope must be a JSON object")
    for name in REQUIRED:
        if name not in envelope:
            raise InvalidEvent(f"missing {name} attribute", name)
    for name, content_type in headers:
        if name.lower() == "content-type":
            if content_type and not content_type.lower().startswith(STRUCTURED):
                # Written by the CloudEvents SDK's v1 Kafka binding, as this codec once did: that binding
                # puts datacontenttype in the header and leaves it out of the envelope.
                envelope["datacontenttype"] = content_type.decode(errors="replace")
            break
    return envelope


def _checked(model: type[BaseModel], value: Any, at: tuple[str, ...] = ()) -> BaseModel:
    # The model's validator itself: model_validate's Python wrapper shows in the profile of a small event.
    try:
        return model.__pydantic_validator__.validate_python(value)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise InvalidEvent(first["msg"], ".".join([*at, *(str(p) for p in first["loc"])]) or None) from None


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
        # Python-mode dump: validate reads UUIDs, dates and decimals as they are instead of parsing strings.
        payload = data.model_dump() if isinstance(data, BaseModel) else dict(data)
        return self.validate(
            {"id": id or uuid4(), "source": source, "type": type, "time": datetime.now(UTC),
             "subject": subject, "tenant": tenant, "data": payload}
        )

    def validate(self, attributes: Mapping[str, Any]) -> Event:
        event = _checked(Event, dict(attributes))  # from a dict: always a new Event, ours to finish below
        if event.tenant not in self.registry:
            raise InvalidEvent(f"unknown tenant {event.tenant!r}", "tenant")
        event_type = self.types.get(event.type)
        if event_type is None:
            raise InvalidEvent(f"unknown event type {event.type!r}", "type")
        # Canonical form: what the schema made of the data (decimals as strings, defaults filled).
        # Set in place rather than by model_copy, which costs more than the JSON parse: no one else holds
        # the event yet.
        data = _checked(event_type.schema, event.data, ("data",))
        event.__dict__["data"] = event_type.schema.__pydantic_serializer__.to_python(data, mode="json")
        return event

    def encode(self, event: Event, key: str | None = None) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
        """(key, value, headers) for a Kafka producer."""
        envelope = {"specversion": event.specversion, "id": event.id, "source": event.source, "type": event.type,
                    "time": event.time, "tenant": event.tenant, "datacontenttype": event.datacontenttype,
                    "data": event.data}
        if event.subject is not None:
            envelope["subject"] = event.subject
        try:  # orjson writes ids and times as pydantic does: times in RFC 3339, with Z for UTC
            value = orjson.dumps(envelope, option=orjson.OPT_UTC_Z)
        except orjson.JSONEncodeError as exc:  # set by hand past validation: a Decimal, a lone surrogate
            raise InvalidEvent(f"not JSON: {exc}") from None
        headers = [("content-type", FORMAT), ("ce_type", event.type.encode()), ("ce_tenant", event.tenant.encode())]
        return (key.encode() if key else None), value, headers

    def decode(self, value: bytes | None, headers: Headers = ()) -> Event:
        if not value:
            raise InvalidEvent("empty message")
        # ce_* headers only mirror the envelope; the envelope in the value is the truth.
        envelope = _envelope(value, headers)
        if not isinstance(envelope.get("data"), dict):
            raise InvalidEvent("data must be a JSON object", "data")
        return self.validate(envelope)
