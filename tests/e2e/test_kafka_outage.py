"""A Kafka outage: the gateway and ops answer 503 while the broker is down, record nothing, and the
same call succeeds once it is back. The test owns its broker, so stopping it disturbs no one else."""

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest

from deploy.kafka_local import LocalKafka
from shared import ids
from shared.events import EventCodec
from shared.kafka import bus
from shared.tenants import Registry
from shared.topics import DEAD_LETTERS, SHARED_COSTS, requests_topic
from tests.conftest import free_ports, local_kafka
from tests.e2e.kafka_reading import read_all, submitted_events
from tests.e2e.platform import Client, Platform

codec = EventCodec(Registry.load())


@pytest.fixture(scope="module")
def broker(tmp_path_factory) -> Iterator[LocalKafka]:
    with local_kafka(tmp_path_factory.mktemp("kafka")) as kafka:
        yield kafka


@pytest.fixture(scope="module")
def gateway_and_ops(broker, tmp_path_factory) -> Iterator[Platform]:
    """The gateway and ops alone on the test's broker, with their own SQLite databases; their producers'
    timeout is three seconds, so a call during the outage is to be answered 503 at once."""
    running = Platform(broker.bootstrap, tmp_path_factory.mktemp("platform"), *free_ports(3),
                       {"HPS_KAFKA_REQUEST_TIMEOUT_MS": "3000"})
    try:
        for name, url in (("gateway", running.url), ("ops", running.ops_url)):
            running.start(name)
            running.await_health(url, name)
        yield running
    finally:
        running.stop_all()


# Five times the producers' timeout: an API that has not answered by then holds its callers through an outage.
ANSWER_WITHIN_S = 15


def impatient(url: str, token: str) -> Client:
    client = Client(url, token)
    client.http.timeout = httpx.Timeout(ANSWER_WITHIN_S)
    return client


def unavailable(call: Callable[[], httpx.Response]) -> httpx.Response:
    """`call`, made while Kafka is down, must be answered 503 "unavailable" without delay."""
    try:
        response = call()
    except httpx.TimeoutException:
        raise AssertionError(f"no answer within {ANSWER_WITHIN_S}s while Kafka was down: the API holds its caller "
                             "where a 503 'unavailable' is promised") from None
    assert response.status_code == 503, f"while Kafka was down: {response.status_code} {response.text}"
    assert response.json()["error"]["code"] == "unavailable"
    return response


@contextmanager
def outage(broker: LocalKafka) -> Iterator[None]:
    """The broker is down inside the block and up again after it, whatever happens inside."""
    broker.stop()
    assert not broker.running()
    try:
        yield
    finally:
        broker.start()


def once_up(call: Callable[[], httpx.Response], timeout_s: float = 60) -> httpx.Response:
    """Repeat `call` while it answers 503 (the clients reconnect after the broker's restart); its first
    other answer."""
    deadline = time.monotonic() + timeout_s
    while (response := call()).status_code == 503:
        if time.monotonic() > deadline:
            raise AssertionError(f"still 503 {timeout_s}s after the broker came back: {response.text}")
        time.sleep(0.5)
    return response


def test_a_submission_refused_during_an_outage_goes_through_once_on_retry(broker, gateway_and_ops):
    council = impatient(gateway_and_ops.url, "dev-council")
    key = f"outage-{uuid.uuid4().hex}"

    def submit() -> httpx.Response:
        return council.submit("it", "laptop-provision", headers={"Idempotency-Key": key}, quantity=1)

    # Kafka goes down; the council's submission is not acknowledged, so nothing was accepted.
    with outage(broker):
        unavailable(submit)
    # Kafka is back: the same submission, with the same key, is accepted under the key's request id.
    accepted = once_up(submit)
    assert accepted.status_code == 202, accepted.text
    request_id = str(ids.derived(f"request/council/{key}"))
    assert accepted.json()["request_id"] == request_id
    # It was published, and once: the key was released after the 503, and the refused send left nothing.
    submitted = asyncio.run(submitted_events(broker.bootstrap, request_id))
    assert len(submitted) == 1, (
        f"the submission is on {requests_topic('it')} {len(submitted)} times (event ids "
        f"{[str(e.id) for e in submitted]}); once is promised: the 503 said nothing was recorded")
    assert (submitted[0].tenant, submitted[0].data["request_id"]) == ("council", request_id)


async def dead_letter(bootstrap: str, period: str = "2026-10") -> tuple[str, bytes]:
    """A shared cost of `period` refused by a consumer, written as the consumers' runner writes it;
    returns its id in ops and the original message."""
    event = codec.build("uk.hps.finance.shared-cost.recorded", "/hps/finance", "hps",
                        {"cost_id": str(uuid.uuid4()), "service": "it", "description": "WAN contract",
                         "amount": "18500.00", "period": period, "basis": "sites", "recorded_by": "finance"})
    key, value, headers = codec.encode(event, "it")
    producer = bus.producer(bootstrap)
    await producer.start()
    try:
        sent = await producer.send_and_wait(DEAD_LETTERS, value, key=key, headers=bus.dead_letter_headers(
            "ledger unreachable", SHARED_COSTS, 2, 41, headers))
    finally:
        await producer.stop()
    return f"{sent.partition}-{sent.offset}", value


def test_a_dead_letter_replay_refused_during_an_outage_is_not_audited(broker, gateway_and_ops):
    ops = impatient(gateway_and_ops.ops_url, "dev-ops")
    letter_id, value = asyncio.run(dead_letter(broker.bootstrap))

    def listed() -> dict:
        response = ops.http.get("/v1/ops/dead-letters")
        assert response.status_code == 200, response.text
        return response.json()

    def replay() -> httpx.Response:
        return ops.http.post(f"/v1/ops/dead-letters/{letter_id}/replay")

    # Ops lists the dead letter with where it came from.
    deadline = time.monotonic() + 30
    while not (letters := [d for d in listed()["dead_letters"] if d["id"] == letter_id]):
        assert time.monotonic() < deadline, f"dead letter {letter_id} not listed"
        time.sleep(0.3)
    [letter] = letters
    assert (letter["source_topic"], letter["source_offset"], letter["replayed"]) == (SHARED_COSTS, 41, False)

    # Kafka goes down: the replay is not acknowledged, so it is not audited either.
    with outage(broker):
        unavailable(replay)
        assert listed()["replays"] == []
    # Kafka is back: the replay goes through, once, and is audited.
    replayed = once_up(replay)
    assert replayed.status_code == 200, replayed.text
    [audit] = listed()["replays"]
    assert (audit["dead_letter_id"], audit["source_topic"], audit["replayed_by"]) == (letter_id, SHARED_COSTS,
                                                                                      "Operations")
    again = replay()
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_replayed"), again.text
    back = [m for m in asyncio.run(read_all(broker.bootstrap, SHARED_COSTS)) if m.value == value]
    assert len(back) == 1, "the original message goes back to its topic exactly once"
