"""The codec speaks CloudEvents 1.0 structured mode over Kafka as the official SDK does, both ways:
the SDK's Kafka binding (`cloudevents.core.bindings.kafka`) reads what the codec writes, every
attribute and the data equal, and the codec reads what the SDK writes. Events written by the SDK's
older v1 binding, as this codec wrote them before, still decode."""

import json
import uuid
from datetime import timedelta, timezone

import pytest
from cloudevents.core.bindings import kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from cloudevents.v1 import kafka as kafka_v1
from cloudevents.v1.http import CloudEvent as CloudEventV1

from shared.events import Event, EventCodec
from shared.tenants import Registry

codec = EventCodec(Registry.load())
COST = "uk.hps.finance.shared-cost.recorded"


def a_cost(subject: str | None, description: str = "Licence for the HR system") -> Event:
    return codec.build(COST, "/hps/finance", "council", {
        "cost_id": str(uuid.uuid4()), "service": "hr", "description": description, "amount": "1234.56",
        "period": "2026-10", "basis": "staff", "recorded_by": "finance"}, subject=subject)


EVENTS = {
    "with a subject": lambda: a_cost("cost/42"),
    "without a subject": lambda: a_cost(None),
    "non-ASCII text": lambda: a_cost("coût/Zoë", "Café licence for Łódź, £1,234.56 — 日本語"),
}


def sdk_attributes(event: Event) -> dict:
    """What the SDK should hold for `event`: its attributes as CloudEvents types (time a datetime)."""
    attributes = {"specversion": "1.0", "id": str(event.id), "source": event.source, "type": event.type,
                  "time": event.time, "tenant": event.tenant, "datacontenttype": "application/json"}
    return attributes | ({"subject": event.subject} if event.subject is not None else {})


@pytest.mark.parametrize("make", EVENTS.values(), ids=EVENTS.keys())
def test_the_sdk_reads_what_the_codec_writes(make):
    event = make()
    key, value, headers = codec.encode(event, "hr")
    message = kafka.KafkaMessage(headers=dict(headers), key=key, value=value)

    read = kafka.from_structured(message, JSONFormat())

    # The SDK adds the Kafka key as its partitionkey extension; everything else is the event's.
    assert read.get_attributes() == sdk_attributes(event) | {"partitionkey": "hr"}
    assert read.get_data() == event.data
    # The headers are structured mode's, as the SDK writes them, plus the two filter headers.
    written = kafka.to_structured(read, JSONFormat())
    assert dict(headers) == {**written.headers, "ce_type": event.type.encode(), "ce_tenant": b"council"}


@pytest.mark.parametrize("make", EVENTS.values(), ids=EVENTS.keys())
def test_the_codec_reads_what_the_sdk_writes(make):
    event = make()
    sdk_event = CloudEvent(sdk_attributes(event), event.data)

    message = kafka.to_structured(sdk_event, JSONFormat())

    assert codec.decode(message.value, list(message.headers.items())) == event


@pytest.mark.parametrize("make", EVENTS.values(), ids=EVENTS.keys())
def test_events_written_by_the_v1_binding_still_decode(make):
    event = make()
    attributes = event.model_dump(mode="json", exclude={"data"}, exclude_none=True)
    # The v1 binding moves datacontenttype into the content-type header and escapes non-ASCII text.
    message = kafka_v1.to_structured(CloudEventV1.create(attributes, event.data))
    assert message.headers == {"content-type": b"application/json"} and b"datacontenttype" not in message.value

    assert codec.decode(message.value, list(message.headers.items())) == event


def test_the_v1_binding_reads_the_envelope_the_codec_writes():
    # The v1 binding takes the content-type header for datacontenttype (the spec has it name the
    # event format in structured mode), so it is given the value alone here.
    event = a_cost("cost/42", "Zoë’s £5 licence")
    _, value, _ = codec.encode(event)

    read = kafka_v1.from_structured(kafka_v1.KafkaMessage({}, None, value))

    assert read.get_attributes() == sdk_attributes(event) | {"time": event.time.isoformat().replace("+00:00", "Z")}
    assert read.get_data() == event.data


def test_the_codec_reads_any_structured_content_type_and_times_in_any_offset():
    # Receivers know structured mode by the prefix application/cloudevents, in any case, with parameters.
    event = a_cost("cost/42")
    envelope = json.loads(codec.encode(event)[1])
    envelope["time"] = event.time.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat()
    value = json.dumps(envelope).encode()
    for content_type in (b"application/cloudevents+json; charset=UTF-8", b"Application/CloudEvents+JSON"):
        assert codec.decode(value, [("content-type", content_type)]) == event
