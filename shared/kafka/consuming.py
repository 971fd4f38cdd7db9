"""The one consumer runner: every worker, the read model, the ledger and the observer run in it
and differ only in their handler.

The error policy lives here and nowhere else. A failure that is not the message's fault (the
broker or the database unreachable) is retried with back-off, the same messages again, never
skipped. Any other exception is the message's fault: it becomes a dead letter naming the reason
and the message's topic, partition and offset, the offset is committed past it, and the consumer
goes on. Handlers are idempotent, so handling a message again after a retry or a crash is safe.

Several instances of a service share a group's partitions. A partition changes hands only between
two fetches, and a consumer that keeps its positions in its database (shared/kafka/positions.py)
resumes each partition it is given where the last owner's transaction left it.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from sqlalchemy import exc as sql

from shared import faults, metrics
from shared.kafka import bus
from shared.kafka.positions import Positions, Superseded
from shared.logging import get_logger

# Faults of the infrastructure, not of the message: retried until they pass.
TRANSIENT = (bus.BrokerError, sql.OperationalError, sql.InterfaceError, sql.TimeoutError, ConnectionError,
             TimeoutError)
BACKOFF_FIRST_S, BACKOFF_MAX_S = 0.2, 30.0

Refusals = list[tuple[ConsumerRecord, Exception]]
# Handles messages of one partition, in order; returns those it refused (they become dead
# letters), or raises: a transient fault to be retried, or any other for the boundary.
Handle = Callable[[list[ConsumerRecord]], Awaitable[Refusals | None]]

log = get_logger("consumer")
T = TypeVar("T")


@dataclass
class Progress:
    """What /health shows of one consumer."""

    name: str
    topics: list[str]
    group: str | None
    state: str = "starting"  # starting | running | retrying | stopped | failed
    started_at: float = field(default_factory=time.time)
    last_poll_at: float | None = None
    last_progress_at: float | None = None
    busy_since: float | None = None  # holding fetched messages it has not finished with
    handled: int = 0
    dead_lettered: int = 0
    error: str | None = None

    def stalled(self, now: float, after_s: float) -> bool:
        return self.busy_since is not None and now - self.busy_since > after_s

    def healthy(self, now: float, stall_after_s: float) -> bool:
        return self.state == "running" and not self.stalled(now, stall_after_s)

    def as_json(self, now: float, stall_after_s: float) -> dict:
        return {"name": self.name, "group": self.group, "topics": self.topics, "state": self.state,
                "stalled": self.stalled(now, stall_after_s), "started_at": _iso(self.started_at),
                "last_poll_at": _iso(self.last_poll_at), "last_progress_at": _iso(self.last_progress_at),
                "handled": self.handled, "dead_lettered": self.dead_lettered, "error": self.error}


def _iso(at: float | None) -> str | None:
    return None if at is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def group_consumer(bootstrap: str, group: str, **options) -> AIOKafkaConsumer:
    """A consumer of `group` for a Runner, which commits for it; a partition the group has never read
    is read from its beginning."""
    return AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                            auto_offset_reset="earliest", **options)


class Runner:
    def __init__(self, name: str, consumer: AIOKafkaConsumer, handle: Handle, *, group: str | None,
                 dead_letters: AIOKafkaProducer | None, topics: Sequence[str] = (), batch: bool = False,
                 max_records: int = 500, positions: Positions | None = None):
        """`consumer` is not started and does not commit by itself. With a `group`, the runner
        subscribes it to `topics` and commits the group's offsets once a fetch is handled; a
        partition changes hands only between two fetches. Without one, `consumer` is assigned its
        partitions already. `positions`: the handler keeps them in its own database (and advances
        them in its transaction); an assigned partition resumes there, and a refused message is
        passed there too. `dead_letters` is None only for the reader of the dead-letter topic
        itself. `batch` hands `handle` a partition's whole fetch instead of one message at a time."""
        self.consumer, self.handle, self.dead_letters, self.positions = consumer, handle, dead_letters, positions
        self.commit, self.batch, self.max_records = group is not None, batch, max_records
        self.topics = list(topics)
        self.progress = Progress(name, [], group)
        self.log = log.bind(consumer=name)
        self.between_fetches = asyncio.Event()
        self.between_fetches.set()
        self.rewound: set[TopicPartition] = set()  # partitions sent back to their stored position in this fetch

    async def run(self, stopping: asyncio.Event) -> None:
        p = self.progress
        if self.commit:
            self.consumer.subscribe(self.topics, listener=_Handover(self))
        await self.consumer.start()
        p.topics = sorted(self.topics or {tp.topic for tp in self.consumer.assignment()})
        p.state = "running"
        try:
            while not stopping.is_set():
                batches = await self.consumer.getmany(timeout_ms=500, max_records=self.max_records)
                p.last_poll_at = time.time()
                if not batches:
                    continue
                p.busy_since = p.last_poll_at
                self.between_fetches.clear()
                try:
                    for messages in batches.values():
                        for part in ([messages] if self.batch else [[m] for m in messages]):
                            await self._guarded(part)
                finally:
                    self.between_fetches.set()
                if self.commit:
                    await self._commit({tp: messages[-1].offset + 1 for tp, messages in batches.items()
                                        if tp not in self.rewound})
                self.rewound.clear()
                p.busy_since, p.last_progress_at = None, time.time()
                faults.reach("consumer-ends")
            p.state = "stopped"
        except BaseException as exc:
            p.state, p.error = "failed", repr(exc)
            raise
        finally:
            await self.consumer.stop()

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        """The group's offsets show the lag; with positions of its own, the database says where a
        partition resumes. A commit the group refuses (it rebalanced since the fetch) costs at most
        that fetch again, to handlers that apply a message once."""
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            self.log.info("commit_refused_after_rebalance", error=str(exc)[:300])

    async def _guarded(self, messages: list[ConsumerRecord]) -> None:
        """Handle `messages`; a message's own fault becomes its dead letter."""
        if self.positions and not (messages := await self._until_done(
                lambda: asyncio.to_thread(self.positions.unhandled, messages))):
            return
        try:
            refused = await self._until_done(lambda: self.handle(messages)) or []
        except Superseded as exc:  # rolled back: read on from where the database says, whoever moved it
            self.log.warning("partition_taken_over", error=str(exc))
            tp = TopicPartition(messages[0].topic, messages[0].partition)
            resume = await self._until_done(lambda: asyncio.to_thread(self.positions.resume_at, [tp]))
            self.consumer.seek(tp, resume[tp])
            self.rewound.add(tp)
            return
        except Exception as exc:
            if len(messages) > 1:  # which one? each on its own, in order
                for message in messages:
                    await self._guarded([message])
                return
            refused = [(messages[0], exc)]
        self.progress.handled += len(messages)
        for message, exc in refused:
            await self._refuse(message, exc)

    async def _until_done(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """`attempt` again, with back-off, for as long as the infrastructure fails it."""
        delay = BACKOFF_FIRST_S
        while True:
            try:
                result = await attempt()
            except TRANSIENT as exc:
                self.progress.state, self.progress.error = "retrying", repr(exc)[:500]
                metrics.error("transient")
                self.log.warning("transient_fault_retrying", error=self.progress.error, retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(BACKOFF_MAX_S, delay * 2)
                continue
            if self.progress.state == "retrying":
                self.progress.state, self.progress.error = "running", None
            return result

    async def _refuse(self, message: ConsumerRecord, exc: Exception) -> None:
        reason = str(exc) or type(exc).__name__
        if not isinstance(exc, ValueError):  # a refusal by design reads as its message; a crash names itself
            reason = f"{type(exc).__name__}: {reason}"
        metrics.error(type(exc).__name__)
        self.progress.dead_lettered += 1
        self.log.warning("dead_letter", reason=reason[:500], topic=message.topic, partition=message.partition,
                         offset=message.offset)

        async def record() -> None:  # sent, then passed: a crash between sends the dead letter again, never loses it
            if self.dead_letters:  # None: a dead letter that cannot be read is logged; sending it back would loop
                await bus.send_dead_letter(self.dead_letters, reason, message.topic, message.partition,
                                           message.offset, message.key, message.value, message.headers)
            if self.positions:
                await asyncio.to_thread(self.positions.passed, [message])

        await self._until_done(record)


class _Handover(ConsumerRebalanceListener):
    """Partitions change hands between fetches: the fetch in hand is finished (written, positions
    moved) before the group goes on, so its next owner starts after it."""

    def __init__(self, runner: Runner):
        self.runner = runner

    async def on_partitions_revoked(self, revoked) -> None:
        await self.runner.between_fetches.wait()

    async def on_partitions_assigned(self, assigned) -> None:
        self.runner.log.info("partitions_assigned", partitions=sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned))
        if positions := self.runner.positions:
            # Nothing fetched meanwhile from the group's committed offset; retried until the database
            # answers: a partition resumed anywhere else would be handled wrongly.
            consumer = self.runner.consumer
            consumer.pause(*assigned)
            try:
                resume = await self.runner._until_done(lambda: asyncio.to_thread(positions.resume_at, assigned))
                for tp, offset in resume.items():
                    consumer.seek(tp, offset)
            finally:
                consumer.resume(*assigned)
