"""Codec benchmark: CloudEvents encoded, decoded and built per second on one core by shared/events.py,
beside raw orjson on the same envelopes (no validation: the floor) and beside the CloudEvents SDK's
v1 Kafka binding with stdlib json (the codec's former envelope handling) followed by the same
validation, for the three busiest event types: a submission (gateway to worker), a request snapshot
(worker to read model), a charge (to the ledger).

    .venv/bin/python -m bench.codec [--events 20000]

Rates are events per CPU second of this one process (time.process_time), so other work on the
machine inflates them less than wall time would; each is the best of three rounds. Prints figures;
asserts nothing.
"""

import argparse
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import orjson
from cloudevents.v1.http import CloudEvent
from cloudevents.v1.kafka import KafkaMessage, from_structured, to_structured
from pydantic import BaseModel

from shared.contracts import ChargeRecorded, RequestSnapshot, RequestSubmitted
from shared.contracts.names import CHARGE_RECORDED, RequestEvent
from shared.events import Event, EventCodec
from shared.tenants import Registry

codec = EventCodec(Registry.load())
TENANTS = ("council", "ccg", "hospital")
NOW = datetime(2026, 10, 5, 9, 30, tzinfo=UTC).isoformat()
REQUEST = {"service": "it", "request_type": "laptop", "priority": "P3", "cost_centre": "ASC-100",
           "description": "A laptop for the new starter in adult social care, with the usual software (£850).",
           "requested": {"quantity": 1}, "submitted_by": "Jo Bloggs", "submitted_at": NOW}


Build = tuple[str, str, str, BaseModel, str | None]  # codec.build's arguments, data as the services pass it


def submitted(i: int) -> Build:
    request_id = str(uuid.uuid4())
    return (RequestEvent.SUBMITTED.of("it"), "/hps/gateway", TENANTS[i % 3],
            RequestSubmitted.model_validate({**REQUEST, "request_id": request_id}), request_id)


def changed(i: int) -> Build:
    request_id = str(uuid.uuid4())
    return (RequestEvent.CHANGED.of("it"), "/hps/it", TENANTS[i % 3], RequestSnapshot.model_validate({
        **REQUEST, "request_id": request_id, "status": "accepted", "updated_at": NOW, "sla_due_at": NOW,
        "amount": f"{i % 900 + 100}.00", "version": 2,
        "change": {"action": "accept", "actor": "it-desk", "command_id": str(uuid.uuid4())}}), request_id)


def charge(i: int) -> Build:
    amount = f"{i % 500 + 1}.{i % 100:02d}"
    return (CHARGE_RECORDED, "/hps/it", TENANTS[i % 3], ChargeRecorded.model_validate({
        "charge_id": str(uuid.uuid4()), "service": "it", "request_type": "account-setup", "quantity": "1",
        "unit_price": amount, "amount": amount, "cost_centre": "CC-1", "period": "2026-10",
        "request_id": str(uuid.uuid4()), "description": f"bench {i}"}), None)


def sdk_encode(event: Event, key: str) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """The codec's former encoder: the SDK's v1 binding, stdlib json."""
    attributes = event.model_dump(mode="json", exclude={"data"}, exclude_none=True)
    message = to_structured(CloudEvent.create(attributes, event.data))
    headers = [*message.headers.items(), ("ce_type", event.type.encode()), ("ce_tenant", event.tenant.encode())]
    return key.encode(), message.value, headers


def sdk_decode(value: bytes, headers: list[tuple[str, bytes]]) -> Event:
    """The codec's former decoder: the SDK's v1 binding, then the same validation."""
    content = {k: v for k, v in headers if k == "content-type"}
    event = from_structured(KafkaMessage(content, None, value))
    return codec.validate({**event.get_attributes(), "data": event.get_data()})


def rate(work: Callable[[], Iterable], count: int) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        for _ in work():
            pass
        best = min(best, time.process_time() - started)
    return count / best


def measure(name: str, make: Callable[[int], Build], count: int) -> None:
    builds = [make(i) for i in range(count)]
    events = [codec.build(*b) for b in builds]
    keys = [str(e.id) for e in events]
    messages = [codec.encode(e, k) for e, k in zip(events, keys)]
    envelopes = [orjson.loads(value) for _, value, _ in messages]
    legacy = [sdk_encode(e, k) for e, k in zip(events, keys)]
    rows = (
        ("encode", rate(lambda: map(codec.encode, events, keys), count),
         rate(lambda: map(orjson.dumps, envelopes), count), rate(lambda: map(sdk_encode, events, keys), count)),
        ("decode", rate(lambda: (codec.decode(v, h) for _, v, h in messages), count),
         rate(lambda: (orjson.loads(v) for _, v, _ in messages), count),
         rate(lambda: (sdk_decode(v, h) for _, v, h in legacy), count)),
        ("build", rate(lambda: (codec.build(*b) for b in builds), count), None, None),
    )
    for op, ours, raw, sdk in rows:
        against = f"{raw:12,.0f} | {ours / raw:6.0%} | {sdk:12,.0f} | {ours / sdk:5.1f}×" if raw else \
            f"{'—':>12} | {'—':>6} | {'—':>12} | {'—':>6}"
        print(f"| {name:<17} | {op:<6} | {ours:10,.0f} | {against} |")


def main(count: int) -> None:
    print(f"{count:,} events of each type; events per CPU second, one core")
    print("| event             | op     |   codec /s | raw orjson /s | codec÷raw |   SDK v1 /s | codec÷SDK |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, make in (("request.submitted", submitted), ("request.changed", changed), ("charge.recorded", charge)):
        measure(name, make, count)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    main(parser.parse_args().events)
