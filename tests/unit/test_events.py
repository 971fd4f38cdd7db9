import json
import uuid

import pytest

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
])
def test_a_bad_envelope_raises_one_typed_error_naming_the_field(changes, field):
    value, headers = encoded(**changes)
    with pytest.raises(InvalidEvent) as raised:
        codec.decode(value, headers)
    assert raised.value.field == field


@pytest.mark.parametrize("value", [b"", b"not json", b"[1, 2]", None])
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
