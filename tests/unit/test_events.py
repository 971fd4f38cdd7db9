import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.contracts import SharedCostRecorded
from shared.events import EventCodec, InvalidEvent
from shared.tenants import Registry

codec = EventCodec(Registry.load())


def shared_cost(tenant="council", **changes):
    data = {"cost_id": str(uuid.uuid4()), "service": "hr", "description": "HR system licence",
            "amount": "25000.00", "period": "2026-10", "basis": "staff", "recorded_by": "finance"}
    return codec.build("uk.hps.finance.shared-cost.recorded", "/hps/finance", tenant, {**data, **changes})


def encoded(**envelope_changes):
    key, value, headers = codec.encode(shared_cost(), "hr")
    envelope = json.loads(value)
    envelope.update(envelope_changes)
    envelope = {k: v for k, v in envelope.items() if v is not None}
    return json.dumps(envelope).encode(), headers


def test_an_event_survives_encoding_intact_with_filter_headers():
    event = shared_cost()
    key, value, headers = codec.encode(event, "hr")
    assert key == b"hr"
    assert dict(headers)["ce_tenant"] == b"council"
    assert dict(headers)["ce_type"] == b"uk.hps.finance.shared-cost.recorded"
    assert json.loads(value)["tenant"] == "council"
    assert codec.decode(value, headers) == event


@pytest.mark.parametrize("changes, field", [
    ({"tenant": None}, "tenant"),
    ({"tenant": "mars"}, "tenant"),
    ({"specversion": "0.3"}, "specversion"),
    ({"specversion": None}, "specversion"),
    ({"type": "uk.hps.finance.unheard-of"}, "type"),
    ({"id": "not-a-uuid"}, "id"),
    ({"source": "elsewhere"}, "source"),
    ({"data": {"amount": "1.00"}}, "data.cost_id"),
    ({"specversion": "2.0"}, "specversion"),
    ({"specversion": [1]}, "specversion"),
    ({"data": "text"}, "data"),
    ({"data": None}, "data"),
    ({"colour": "red"}, "colour"),
])
def test_a_bad_envelope_raises_one_typed_error_naming_the_field(changes, field):
    value, headers = encoded(**changes)
    with pytest.raises(InvalidEvent) as raised:
        codec.decode(value, headers)
    assert raised.value.field == field


@pytest.mark.parametrize("value", [b"", b"not json", b"[1, 2]", None, b'{"id": "\xff"}', b'{"a": NaN}'])
def test_what_is_not_an_envelope_is_an_invalid_event(value):
    with pytest.raises(InvalidEvent):
        codec.decode(value)


def test_building_validates_too():
    with pytest.raises(InvalidEvent) as raised:
        shared_cost(amount="100000000.01")
    assert raised.value.field == "data.amount"
    with pytest.raises(InvalidEvent):
        shared_cost(tenant="nobody")


def test_amounts_travel_as_strings_not_floats():
    _, value, _ = codec.encode(shared_cost(amount="0.10"), None)
    assert json.loads(value)["data"]["amount"] == "0.10"


def test_the_envelope_is_structured_mode_with_non_ascii_text_as_it_is():
    event = shared_cost(description="Zoë’s licence")
    _, value, headers = codec.encode(event, None)
    assert dict(headers)["content-type"] == b"application/cloudevents+json"
    assert json.loads(value)["datacontenttype"] == "application/json"
    assert "Zoë’s licence".encode() in value
    assert codec.decode(value, headers) == event


# Written by the encoder before this one (the CloudEvents SDK's v1 binding): datacontenttype in
# the content-type header, none in the envelope, non-ASCII text escaped.
OLD_VALUE = (
    b'{"specversion": "1.0", "id": "0b6f3c2e-8a55-4d0e-9f27-6c1d2e3f4a5b", "source": "/hps/finance", '
    b'"type": "uk.hps.finance.shared-cost.recorded", "time": "2026-11-23T17:43:58.561820Z", "subject": "co\\u00fbt/7", '
    b'"tenant": "council", "data": {"cost_id": "5c1f0e4e-2b8a-4f43-9d51-3f1c2a7e9b10", "service": "hr", '
    b'"description": "Licence for Zo\\u00eb\\u2019s team", "amount": "25000.00", "period": "2026-10", '
    b'"basis": "staff", "recorded_by": "finance", "incurred_on": null, "reason": null}}')
OLD_HEADERS = [("content-type", b"application/json"), ("ce_type", b"uk.hps.finance.shared-cost.recorded"),
               ("ce_tenant", b"council")]


def test_events_already_on_the_topics_still_decode():
    event = codec.decode(OLD_VALUE, OLD_HEADERS)
    assert event.id == uuid.UUID("0b6f3c2e-8a55-4d0e-9f27-6c1d2e3f4a5b")
    assert (event.subject, event.tenant) == ("coût/7", "council")
    assert event.time == datetime(2026, 11, 23, 17, 43, 58, 561820, tzinfo=UTC)
    assert event.datacontenttype == "application/json"
    assert event.data["description"] == "Licence for Zoë’s team" and event.data["amount"] == "25000.00"
    # Encoded again, it is structured mode as the spec has it, and decodes to the same event.
    assert codec.decode(*codec.encode(event)[1:]) == event


@pytest.mark.parametrize("content_type", [b"text/plain", b"\xff"])
def test_a_content_type_header_naming_another_data_type_is_refused_not_a_crash(content_type):
    with pytest.raises(InvalidEvent) as raised:
        codec.decode(OLD_VALUE, [("content-type", content_type)])
    assert raised.value.field == "datacontenttype"


def test_a_model_is_validated_again_when_built_into_an_event():
    cost = SharedCostRecorded.model_validate(shared_cost().data)
    built = codec.build("uk.hps.finance.shared-cost.recorded", "/hps/finance", "council", cost)
    # Canonical form: decimals as strings, defaults filled, the same as built from the dict.
    assert built.data["amount"] == "25000.00" and built.data["reason"] is None
    assert built.data == codec.build("uk.hps.finance.shared-cost.recorded", "/hps/finance", "council",
                                     cost.model_dump(mode="json")).data
    # model_copy does not validate: the codec still does.
    too_much = cost.model_copy(update={"amount": Decimal("100000000.01")})
    with pytest.raises(InvalidEvent) as raised:
        codec.build("uk.hps.finance.shared-cost.recorded", "/hps/finance", "council", too_much)
    assert raised.value.field == "data.amount"


def test_validating_an_event_returns_a_canonical_copy_and_leaves_the_original_alone():
    event = shared_cost()
    partial = {k: v for k, v in event.data.items() if k != "reason"}
    by_hand = event.model_copy(update={"data": partial})
    assert codec.validate(by_hand) == event
    assert by_hand.data == partial


def test_data_set_by_hand_that_is_not_json_is_an_invalid_event_on_encoding():
    event = shared_cost()
    by_hand = event.model_copy(update={"data": {**event.data, "amount": Decimal("1.00")}})
    with pytest.raises(InvalidEvent):
        codec.encode(by_hand, None)
