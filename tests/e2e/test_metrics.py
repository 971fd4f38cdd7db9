"""Every process serves Prometheus metrics, and they move with the work it does."""

import time
import uuid

from prometheus_client.parser import text_string_to_metric_families

from shared.catalogue import load_all
from shared.topics import CHARGES, SERVICES, requests_topic
from tests.e2e.kafka_reading import await_group_past
from tests.e2e.test_finance_api import completed_charge

MEASURE = {"quantity": 1, "hours": "1", "value": "100.00"}


def sample(text: str, name: str, **labels) -> float:
    """The sum of every sample of `name` whose labels include `labels`."""
    return sum(s.value for family in text_string_to_metric_families(text) for s in family.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def await_above(platform, process: str, before: float, name: str, timeout_s: float = 30, **labels) -> float:
    deadline = time.monotonic() + timeout_s
    while (now := sample(platform.metrics(process), name, **labels)) <= before:
        assert time.monotonic() < deadline, f"{process}: {name}{labels} still {now} after {timeout_s}s"
        time.sleep(0.3)
    return now


async def test_each_worker_counts_the_requests_it_consumes_and_the_gateway_what_it_publishes(platform, as_):
    catalogues = load_all()
    for service in SERVICES:
        consumed = {"service": service, "topic": requests_topic(service), "tenant": "hospital"}
        produced = {"service": "gateway", "topic": requests_topic(service), "tenant": "hospital"}
        await await_group_past(platform.bootstrap, f"hps-{service}", requests_topic(service))  # earlier work counted
        worker_before = sample(platform.metrics(service), "hps_events_consumed_total", **consumed)
        gateway_before = sample(platform.metrics("gateway"), "hps_events_produced_total", **produced)
        request_type = catalogues[service].requestable()[0]
        measure = catalogues[service].type(request_type).price.measure
        # The hospital asks each service for something.
        response = as_("dev-hospital").submit(service, request_type, **{measure: MEASURE[measure]})
        assert response.status_code == 202, response.text
        assert sample(platform.metrics("gateway"), "hps_events_produced_total", **produced) == gateway_before + 1
        await_above(platform, service, worker_before, "hps_events_consumed_total", **consumed)


async def test_the_ledger_counts_the_charge_of_a_completed_request(platform, as_):
    labels = {"service": "finance-ledger", "topic": CHARGES, "tenant": "council"}
    await await_group_past(platform.bootstrap, "hps-finance-ledger", CHARGES)  # earlier charges counted
    before = sample(platform.metrics("finance.ledger"), "hps_events_consumed_total", **labels)
    # IT delivers the council's laptop; the charge it records is the ledger's to consume.
    completed_charge(as_, "2024-02")
    await_above(platform, "finance.ledger", before, "hps_events_consumed_total", **labels)


async def test_a_poison_message_moves_the_workers_dead_letter_and_error_counters(platform):
    letters = {"service": "procurement", "topic": requests_topic("procurement"), "tenant": "untagged"}
    errors = {"service": "procurement", "kind": "InvalidEvent"}
    await await_group_past(platform.bootstrap, "hps-procurement", requests_topic("procurement"))
    text = platform.metrics("procurement")
    letters_before, errors_before = sample(text, "hps_dead_letters_total", **letters), sample(text, "hps_errors_total", **errors)
    await platform.produce(requests_topic("procurement"), f"poison {uuid.uuid4()}".encode(), b"poison")
    await_above(platform, "procurement", letters_before, "hps_dead_letters_total", **letters)
    assert sample(platform.metrics("procurement"), "hps_errors_total", **errors) == errors_before + 1
