"""The one consumer runner, in a real worker on the real broker with its state in SQLite, for a
service of this test's own: a transient fault is retried until it passes and never skipped; any
other failure is the message's own, a dead letter, and the worker goes on; a consumer that ends
fails its process, and /health says which consumer is down or stalled."""

import asyncio
import time
import uuid
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import REGISTRY
from sqlalchemy.exc import OperationalError

from shared import faults, metrics
from shared.contracts import EVENT_TYPES, Data, EventType
from shared.db import engine, upsert
from shared.events import Event, EventCodec
from shared.health import Health
from shared.kafka import bus
from shared.kafka.consuming import Runner, group_consumer
from shared.kafka.positions import Positions, Superseded
from shared.kafka.positions import positions as positions_table
from shared.request_engine.handlers import Outcome
from shared.request_engine.state import StateStore
from shared.request_engine.worker import Worker, group
from shared.tenants import Registry
from shared.topics import DEAD_LETTERS, Topic, events_topic, requests_topic
from tests.e2e.kafka_reading import read_all, read_until


class Note(Data):
    request_id: uuid.UUID
    text: str


class Harness:
    """A worker for a fresh service: its topics, codec, store and handlers, and a log of handler calls."""

    def __init__(self, bootstrap: str, tmp_path):
        self.bootstrap = bootstrap
        self.service = f"retry{uuid.uuid4().hex[:8]}"
        self.requests, self.events = requests_topic(self.service), events_topic(self.service)
        self.flaky, self.broken, self.done, self.down = (f"uk.hps.{self.service}.note.{t}"
                                                         for t in ("flaky", "broken", "done", "down"))
        topics = {self.flaky: self.requests, self.broken: self.requests, self.done: self.events,
                  self.down: self.requests}
        types = {name: EventType(name, topic, Note, "request id", "test") for name, topic in topics.items()}
        self.codec = EventCodec(Registry.load(), {**EVENT_TYPES, **types})
        db = engine(f"sqlite:///{tmp_path / 'worker.db'}")
        self.store = StateStore(db, self.service, Positions(db, group(self.service), from_start=False))
        self.calls: list[str] = []  # the event id of each handler call
        self.producer = bus.producer(bootstrap)  # what the test publishes with
        handlers = {self.flaky: self.fails_twice, self.broken: self.always_fails, self.down: self.database_down}
        self.worker = Worker(self.service, bootstrap, handlers, self.codec, self.store, sla_interval_s=3600)
        self.health = Health(self.service, stall_after_s=1)
        self.database_is_down = True

    def fails_twice(self, state, event: Event) -> Outcome:
        self.calls.append(str(event.id))
        if self.calls.count(str(event.id)) <= 2:  # the database is restarting: not the message's fault
            raise OperationalError("SELECT state", {}, ConnectionResetError("connection reset by peer"))
        done = self.codec.build(self.done, f"/hps/{self.service}", event.tenant, event.data, subject=event.subject,
                                id=uuid.uuid5(event.id, "done"))
        return Outcome({"text": event.data["text"]}, [(self.events, event.subject, done)])

    def always_fails(self, state, event: Event) -> Outcome:
        self.calls.append(str(event.id))
        raise RuntimeError("pricing bug")

    def database_down(self, state, event: Event) -> Outcome:
        self.calls.append(str(event.id))
        if self.database_is_down:
            raise OperationalError("SELECT state", {}, ConnectionRefusedError("connection refused"))
        return Outcome({"text": event.data["text"]})

    def state(self, request_id: str) -> dict | None:
        return self.store.get_many([request_id]).get(request_id)

    async def send(self, event_type: str, request_id: str, text: str):
        """Publish a command for the worker; returns it and where the broker put it."""
        event = self.codec.build(event_type, "/hps/gateway", "council", {"request_id": request_id, "text": text},
                                 subject=request_id)
        key, value, headers = self.codec.encode(event, request_id)
        return event, await self.producer.send_and_wait(self.requests, value, key=key, headers=headers)


@pytest.fixture
async def harness(kafka_bootstrap, tmp_path):
    """A running worker of a fresh service, stopped as its main() would on SIGTERM."""
    h = Harness(kafka_bootstrap, tmp_path)
    await asyncio.to_thread(bus.ensure_topics, kafka_bootstrap, [Topic(h.requests, 3, -1, "retry test"),
                                                                 Topic(h.events, 1, -1, "retry test")])
    await h.producer.start()
    await h.worker.producer.start()
    h.health.start(h.worker.runner())
    [h.task] = h.health.tasks
    try:
        yield h
    finally:
        await h.producer.stop()
        await asyncio.wait_for(h.health.stop(), 30)
        await h.worker.producer.stop()


async def until(condition: Callable[[], object], worker: asyncio.Task, timeout_s: float = 60):
    """Wait for `condition` to hold while the worker runs; a worker that died fails the test with its error."""
    deadline = time.monotonic() + timeout_s
    while not (result := condition()):
        if worker.done():
            worker.result()
            raise AssertionError("the worker stopped")
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met after {timeout_s}s")
        await asyncio.sleep(0.1)
    return result


async def read_to_end(bootstrap: str, topic: str, partitions_count: int) -> list:
    """Every message of `topic` written before the call."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(partitions_count)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        messages = []
        while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                messages.extend(records)
        return messages
    finally:
        await consumer.stop()


def errors(kind: str) -> float:
    """hps_errors_total{kind} of this process (the registry is process-wide)."""
    return REGISTRY.get_sample_value("hps_errors_total", {"service": metrics.service(), "kind": kind}) or 0


async def test_a_transient_fault_is_retried_until_it_passes_and_applied_once(harness):
    retries_before = errors("transient")
    # The council's note meets a database that is restarting, twice.
    request_id = str(uuid.uuid4())
    note, _ = await harness.send(harness.flaky, request_id, "new starter on Monday")

    state = await until(lambda: harness.state(request_id), harness.task)
    assert state == {"text": "new starter on Monday"}
    assert harness.calls == [str(note.id)] * 3
    assert errors("transient") == retries_before + 2
    # What the handler emits went out once: the failed attempt emitted nothing.
    messages = await read_to_end(harness.bootstrap, harness.events, 1)
    emitted = [harness.codec.decode(m.value, m.headers) for m in messages]
    assert [(e.type, e.subject, e.id) for e in emitted] == [(harness.done, request_id, uuid.uuid5(note.id, "done"))]


async def test_a_handler_that_fails_sends_the_message_to_the_dead_letters_and_the_worker_goes_on(harness):
    transient_before, failures_before = errors("transient"), errors("RuntimeError")
    # The council's note hits a handler bug; a later note on the same request follows it.
    request_id = str(uuid.uuid4())
    broken, where = await harness.send(harness.broken, request_id, "this one breaks")
    later, _ = await harness.send(harness.flaky, request_id, "this one goes through")

    # The later note is applied: the worker went on past the failing one (same key, same partition).
    await until(lambda: harness.state(request_id), harness.task)
    # A bug fails the same way every time: it is not retried on its own, it is refused once. The later
    # note's transient faults are retried, with the note fetched with it when they came in one batch.
    assert harness.calls.count(str(later.id)) == 3 and harness.calls[0] == str(broken.id)
    assert 1 <= harness.calls.count(str(broken.id)) <= 3
    assert errors("transient") == transient_before + 2
    assert errors("RuntimeError") == failures_before + 1

    def ours(messages):
        return [m for m in messages if ("hps_dlq_topic", harness.requests.encode()) in m.headers]

    [letter] = ours(await read_until(harness.bootstrap, DEAD_LETTERS, ours))
    headers = dict(letter.headers)
    assert headers["hps_dlq_reason"].decode() == "RuntimeError: pricing bug"
    assert (headers["hps_dlq_partition"], headers["hps_dlq_offset"]) == (str(where.partition).encode(),
                                                                         str(where.offset).encode())
    assert letter.key == request_id.encode()
    assert harness.codec.decode(letter.value, letter.headers) == broken
    consumer = harness.health.report()[1]["consumers"][0]
    assert consumer["dead_lettered"] == 1 and consumer["state"] == "running"


async def test_an_event_the_worker_does_not_handle_or_without_a_key_is_a_dead_letter(harness):
    request_id = str(uuid.uuid4())
    # A done event on the requests topic is not a command this worker handles; a note without a key
    # cannot be tied to its request.
    stray = harness.codec.build(harness.done, "/hps/gateway", "council", {"request_id": request_id, "text": "x"},
                                subject=request_id)
    _, value, headers = harness.codec.encode(stray, request_id)
    await harness.producer.send_and_wait(harness.requests, value, key=request_id.encode(), headers=headers)
    unkeyed = harness.codec.build(harness.flaky, "/hps/gateway", "council", {"request_id": request_id, "text": "y"},
                                  subject=request_id)
    _, value, headers = harness.codec.encode(unkeyed, None)
    await harness.producer.send_and_wait(harness.requests, value, key=None, headers=headers)

    def ours(messages):
        return [dict(m.headers)["hps_dlq_reason"].decode() for m in messages
                if ("hps_dlq_topic", harness.requests.encode()) in m.headers]

    reasons = ours(await read_until(harness.bootstrap, DEAD_LETTERS, lambda ms: len(ours(ms)) == 2))
    assert sorted(reasons) == sorted([f"{harness.service} does not handle {harness.done}",
                                      "a request event needs its entity as the message key"])
    assert harness.calls == [] and harness.state(request_id) is None


async def test_a_database_that_stays_down_stalls_the_consumer_on_health_and_nothing_is_skipped(harness):
    request_id = str(uuid.uuid4())
    note, _ = await harness.send(harness.down, request_id, "waits for the database")

    def consumer() -> dict:
        return harness.health.report()[1]["consumers"][0]

    # Held longer than the stall limit (1 s here): /health turns unhealthy and names the consumer and why.
    await until(lambda: consumer()["stalled"], harness.task)
    healthy, report = harness.health.report()
    assert not healthy and report["status"] == "unhealthy"
    assert consumer()["name"] == harness.service and consumer()["state"] == "retrying"
    assert "connection refused" in consumer()["error"]
    assert consumer()["dead_lettered"] == 0 and harness.state(request_id) is None

    # The database comes back: the same note is applied, once, and health recovers.
    harness.database_is_down = False
    assert await until(lambda: harness.state(request_id), harness.task) == {"text": "waits for the database"}
    await until(lambda: harness.health.report()[0], harness.task)
    assert consumer()["state"] == "running" and consumer()["error"] is None
    assert consumer()["last_progress_at"] is not None
    assert set(harness.calls) == {str(note.id)} and len(harness.calls) >= 3


async def test_a_consumer_task_that_ends_fails_the_process(harness, tmp_path):
    stopped = asyncio.Event()
    harness.health.on_failure = stopped.set  # what `serve` turns into a non-zero exit
    faults.arm(["consumer-ends"], tmp_path, harness.service)
    try:
        await harness.send(harness.flaky, str(uuid.uuid4()), "the last note this consumer takes")
        await asyncio.wait_for(stopped.wait(), 60)
    finally:
        faults.arm([], tmp_path, harness.service)
    healthy, report = harness.health.report()
    assert not healthy
    assert report["failed"].startswith(f"{harness.service} ended: InjectedFault")
    assert report["consumers"][0]["state"] == "failed"


@pytest.fixture
async def bare_topic(kafka_bootstrap):
    """A one-partition topic of this test's own, three messages on it: a, poison, b."""
    name = f"runner-{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(bus.ensure_topics, kafka_bootstrap, [Topic(name, 1, -1, "runner test")])
    producer = bus.producer(kafka_bootstrap)
    await producer.start()
    try:
        for value in (b"a", b"poison", b"b"):
            await producer.send_and_wait(name, value, key=b"k")
        yield name, producer
    finally:
        await producer.stop()


async def run_until(health: Health, condition: Callable[[], object], timeout_s: float = 60):
    [task] = health.tasks
    try:
        return await until(condition, task, timeout_s)
    finally:
        await asyncio.wait_for(health.stop(), 30)


async def test_a_batch_that_raises_is_handled_one_message_at_a_time_and_only_the_bad_one_refused(
        kafka_bootstrap, bare_topic):
    topic, producer = bare_topic
    handled = []

    async def handle(messages):  # the ledger's way: the whole fetch at once, all or nothing
        if any(m.value == b"poison" for m in messages):
            raise ValueError("cannot post poison")
        handled.extend(m.value for m in messages)

    group = f"{topic}-group"
    runner = Runner("batch", group_consumer(kafka_bootstrap, group), handle, group=group, topics=[topic],
                    dead_letters=producer, batch=True)
    health = Health("runner-test", stall_after_s=60)
    health.start(runner)
    await run_until(health, lambda: runner.progress.handled == 3)
    assert handled == [b"a", b"b"] and runner.progress.dead_lettered == 1

    def ours(messages):
        return [dict(m.headers) for m in messages if ("hps_dlq_topic", topic.encode()) in m.headers]

    [letter] = ours(await read_until(kafka_bootstrap, DEAD_LETTERS, ours))
    assert (letter["hps_dlq_reason"], letter["hps_dlq_offset"]) == (b"cannot post poison", b"1")


async def test_a_consumer_keeping_its_own_positions_records_each_refusal_through_a_transient_fault(
        kafka_bootstrap, bare_topic, tmp_path):
    topic, _ = bare_topic
    attempts = []
    transient_before = errors("transient")

    async def handle(messages):
        raise ValueError("unreadable")

    class Flaky(Positions):  # the database drops the connection once, as the first refusal is passed
        def passed(self, messages):
            attempts.append(messages[0].offset)
            if len(attempts) == 1:
                raise OperationalError("UPDATE positions", {}, ConnectionResetError("connection reset"))
            super().passed(messages)

    positions = Flaky(engine(f"sqlite:///{tmp_path / 'positions.db'}"), "own-positions", from_start=True)
    # No group and no dead letters: as the reader of the dead-letter topic itself, which must not loop.
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    consumer.assign([TopicPartition(topic, 0)])
    runner = Runner("own-positions", consumer, handle, group=None, dead_letters=None, positions=positions)
    health = Health("runner-test", stall_after_s=60)
    health.start(runner)
    await run_until(health, lambda: positions.resume_at([TopicPartition(topic, 0)]) == {TopicPartition(topic, 0): 3})
    assert attempts == [0, 0, 1, 2] and errors("transient") == transient_before + 1
    assert runner.progress.dead_lettered == 3 and runner.progress.error is None  # recovered from the fault
    letters = await read_all(kafka_bootstrap, DEAD_LETTERS)
    assert not [m for m in letters if ("hps_dlq_topic", topic.encode()) in m.headers]


async def test_a_batch_superseded_by_another_instance_is_read_again_from_the_stored_position(
        kafka_bootstrap, bare_topic, tmp_path):
    topic, _ = bare_topic
    tp, handled = TopicPartition(topic, 0), []
    db = engine(f"sqlite:///{tmp_path / 'positions.db'}")
    positions = Positions(db, "superseded", from_start=True)

    async def handle(messages):
        if not handled:  # meanwhile another instance took the partition and handled the first two
            with db.begin() as c:
                upsert(c, positions_table, {"group_id": "superseded", "topic": topic, "partition": 0},
                       {"next_offset": 2})
            handled.append(None)
            raise Superseded(f"{topic}-0 is at 2 in the database, past {messages[0].offset}")
        handled.extend(m.value for m in messages)

    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    consumer.assign([tp])
    runner = Runner("superseded", consumer, handle, group=None, dead_letters=None, batch=True, positions=positions)
    health = Health("runner-test", stall_after_s=60)
    health.start(runner)
    await run_until(health, lambda: b"b" in handled)
    assert handled == [None, b"b"]  # neither a nor poison again: the other instance had them


async def test_a_commit_the_group_refuses_costs_nothing_but_a_log_line(kafka_bootstrap, bare_topic):
    topic, _ = bare_topic
    group = f"{topic}-refused"
    consumer = group_consumer(kafka_bootstrap, group)
    runner = Runner("refused", consumer, lambda messages: None, group=group, topics=[topic], dead_letters=None)
    await consumer.start()
    try:  # not assigned the partition (never subscribed): the group refuses its offset, as after a rebalance
        await runner._commit({TopicPartition(topic, 0): 1})
        assert await consumer.committed(TopicPartition(topic, 0)) is None  # nothing moved
    finally:
        await consumer.stop()
