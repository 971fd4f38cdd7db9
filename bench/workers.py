"""Stage 4: a request worker's throughput. M request-submitted events, built and encoded as the
gateway builds them (before the clock starts), go straight onto one service's requests topic; the
clock stops when the worker's events topic holds an output for every one of them, read by a raw
consumer from where that topic ended before. Beside it, a raw aiokafka consumer reads the same M
messages from the requests topic."""

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from bench import ledger
from bench.backlog import drain
from bench.platform import Platform
from bench.producing import Message, send_all
from bench.report import Row
from shared import ids
from shared.contracts import RequestEvent, RequestSubmitted
from shared.topics import BY_NAME, events_topic, requests_topic

SERVICE = "it"


def submitted(i: int) -> tuple[str, Message]:
    """(request id, message) of a partner's request, as the gateway publishes it."""
    request_id = uuid.uuid4()
    tenant = ledger.TENANTS[i % 3]
    data = RequestSubmitted(request_id=request_id, service=SERVICE, request_type="account-setup", priority="P3",
                            description=f"benchmark {i}", cost_centre="CC-100", requested={"quantity": 1},
                            submitted_by=f"{tenant}-requester", submitted_at=datetime.now(UTC))
    event = ledger.codec.build(RequestEvent.SUBMITTED.of(SERVICE), "/hps/gateway", tenant, data,
                               subject=str(request_id), id=ids.derived(f"submit/{request_id}"))
    return str(request_id), ledger.codec.encode(event, str(request_id))


async def ends(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    """Where each partition of `topic` ends now."""
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await probe.start()
    try:
        return await probe.end_offsets([TopicPartition(topic, p) for p in range(BY_NAME[topic].partitions)])
    finally:
        await probe.stop()


async def consumer_from(start: dict[TopicPartition, int], bootstrap: str) -> AIOKafkaConsumer:
    """A raw consumer, no group, reading each partition from its offset in `start`."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                max_partition_fetch_bytes=4 * 2**20)
    await consumer.start()
    consumer.assign(list(start))
    for tp, offset in start.items():
        consumer.seek(tp, offset)
    return consumer


async def read(consumer: AIOKafkaConsumer, wanted: int, counts: Callable[[ConsumerRecord], bool],
               timeout_s: float) -> tuple[int, float]:
    """(records counted, seconds) once `wanted` have been counted, or at the timeout."""
    counted, started, deadline = 0, time.perf_counter(), time.monotonic() + timeout_s
    try:
        while counted < wanted and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=200, max_records=5000)).values():
                counted += sum(1 for r in records if counts(r))
        return counted, time.perf_counter() - started
    finally:
        await consumer.stop()


async def throughput(platform: Platform, count: int) -> tuple[int, float]:
    """(requests applied, seconds): `count` submissions put on the worker's topic at once, and the
    clock stopped when each has its first output on the events topic."""
    bootstrap = platform.bootstrap
    requests = [submitted(i) for i in range(count)]
    waiting = {request_id.encode() for request_id, _ in requests}
    outputs = await consumer_from(await ends(bootstrap, events_topic(SERVICE)), bootstrap)

    def first_output(record: ConsumerRecord) -> bool:
        if record.key in waiting:
            waiting.remove(record.key)
            return True
        return False

    watching = asyncio.create_task(read(outputs, count, first_output, timeout_s=max(60.0, count / 20)))
    await send_all(bootstrap, requests_topic(SERVICE), [message for _, message in requests], batched=True)
    return await watching


async def measure(platform: Platform, count: int, workers: int, drain_s: float) -> list[Row]:
    platform.up(workers)
    await drain(platform.bootstrap, drain_s)
    inputs = await ends(platform.bootstrap, requests_topic(SERVICE))
    usage = platform.usage("worker", "it").start()
    applied, elapsed = await throughput(platform, count)
    usage.stop()
    raw, raw_s = await read(await consumer_from(inputs, platform.bootstrap), count, lambda record: True, timeout_s=60)
    rate = applied / elapsed
    unfinished = f"; only {applied:,} of {count:,} within {elapsed:.0f} s" if applied < count else ""
    return [Row(f"4. `{SERVICE}` worker: {count:,} request-submitted events → their outputs on "
                f"`{events_topic(SERVICE)}`", f"{rate:,.0f} requests/s{unfinished}",
                f"raw aiokafka consumer, the same messages: {raw / raw_s:,.0f} messages/s", rate / (raw / raw_s),
                "none set", None, usage.busiest(applied, "request"))]
