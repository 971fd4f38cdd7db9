"""A service worker: consume its requests topic, call the handler, emit, remember, commit.

No business rules here. Per partition, messages are handled one at a time in order. For each
message the worker first publishes what the handler emits (acknowledged by the broker), then
stores the new state, then commits the offset: a crash anywhere in between redelivers the
message, the handler emits the same event ids again, and consumers deduplicate them.
"""

import asyncio
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import uuid4

from aiokafka import AIOKafkaConsumer

from shared import bus, lifecycle, metrics
from shared.catalogue import Catalogue
from shared.catalogue import load as load_catalogue
from shared.consuming import consume
from shared.contracts import RequestSnapshot, SlaCheck, type_name
from shared.db import engine
from shared.events import EventCodec, InvalidEvent
from shared.logging import configure, get_logger
from shared.request_handlers import Handler, Outcome, RequestHandlers, Unprocessable
from shared.settings import Settings, get_settings
from shared.state_store import StateStore
from shared.tenants import Registry
from shared.topics import requests_topic

RETRIES = 3


class HandlerFailed(RuntimeError):
    pass


class Worker:
    def __init__(self, service: str, settings: Settings, handlers: dict[str, Handler], codec: EventCodec,
                 store: StateStore, sla_interval_s: float):
        self.service, self.settings, self.handlers, self.codec, self.store = service, settings, handlers, codec, store
        self.sla_interval_s = sla_interval_s
        self.topic = requests_topic(service)
        self.log = get_logger(service)
        self.stopping = asyncio.Event()

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(self.topic, bootstrap_servers=self.settings.bootstrap, group_id=f"hps-{self.service}",
                                    enable_auto_commit=False, auto_offset_reset="earliest")
        self.producer = bus.producer(self.settings.bootstrap)
        await self.producer.start()
        await consumer.start()
        clock = asyncio.create_task(self._sla_clock())
        self.log.info("worker_ready", topic=self.topic)
        try:
            await consume(consumer, self.handle_all, self.stopping)
        finally:
            clock.cancel()
            await asyncio.gather(clock, return_exceptions=True)
            await consumer.stop()
            await self.producer.stop()

    async def handle_all(self, messages) -> None:
        for message in messages:
            await self.handle(message)

    async def handle(self, message) -> None:
        key = message.key.decode() if message.key else None
        try:
            event = self.codec.decode(message.value, message.headers)
            metrics.consumed(message.topic, event.tenant, event.type)
            handler = self.handlers.get(event.type)
            if handler is None:
                raise Unprocessable(f"{self.service} does not handle {event.type}")
            if key is None:
                raise Unprocessable("a request event needs its entity as the message key")
            with metrics.timed(event.type):
                outcome = await self._with_retries(handler, key, event)
        except (InvalidEvent, Unprocessable, HandlerFailed) as exc:
            metrics.error(type(exc).__name__)
            self.log.warning("dead_letter", reason=str(exc), topic=message.topic, partition=message.partition,
                             offset=message.offset)
            await bus.send_dead_letter(self.producer, str(exc), message.topic, message.partition, message.offset,
                                       message.key, message.value, message.headers)
            return
        for topic, out_key, out in outcome.emits:
            await bus.publish(self.producer, self.codec, topic, out, out_key)
        if outcome.state is not None:
            self.store.put(key, event.tenant, outcome.state, _overdue_at(outcome.state))
        self.log.info("applied", event_id=str(event.id), tenant=event.tenant, type=event.type,
                      request_id=event.subject, emitted=len(outcome.emits))

    async def _with_retries(self, handler: Handler, key: str, event) -> Outcome:
        for attempt in range(1, RETRIES + 1):  # pragma: no branch (the last attempt returns or raises)
            try:
                return handler(self.store.get(key), event)
            except (InvalidEvent, Unprocessable):
                raise
            except Exception as exc:  # a bug or a transient fault: retry, then dead-letter with the reason
                if attempt == RETRIES:
                    raise HandlerFailed(f"handler failed {RETRIES} times: {exc!r}") from exc
                self.log.warning("handler_retry", attempt=attempt, error=repr(exc))
                metrics.error("handler_retry")
                await asyncio.sleep(0.2 * attempt)

    async def _sla_clock(self) -> None:
        """Ask, through the requests topic, whether each overdue request is still open; the
        handler decides and flags it, so all changes to a request go through one ordered stream."""
        while True:
            await asyncio.sleep(self.sla_interval_s)
            for key, tenant in self.store.overdue(datetime.now(UTC)):
                check = self.codec.build(type_name(self.service, "request.sla-check"), f"/hps/{self.service}", tenant,
                                         SlaCheck(request_id=key), subject=key, id=uuid4())
                await bus.publish(self.producer, self.codec, self.topic, check, key)


def _overdue_at(state: dict) -> datetime | None:
    if "request" not in state:
        return None
    request = RequestSnapshot.model_validate(state["request"])
    open_ = request.status in lifecycle.OPEN and not request.sla_breached
    return request.sla_due_at if open_ else None


ExtraHandlers = Callable[[Catalogue, EventCodec, Registry], dict[str, Handler]]


def main(service: str, extra: ExtraHandlers | None = None) -> None:
    """Run `service`'s worker until SIGTERM or SIGINT: the shared request handlers plus its own."""
    settings = get_settings()
    configure(settings.log_level)
    metrics.serving(service, settings.metrics_port)
    registry = Registry.load(settings.tenants_file)
    codec = EventCodec(registry)
    catalogue = load_catalogue(service, settings.catalogue_dir)
    handlers = RequestHandlers(service, catalogue, codec).registry()
    if extra:
        handlers |= extra(catalogue, codec, registry)
    store = StateStore(engine(settings.database(service)), service)
    worker = Worker(service, settings, handlers, codec, store, lifecycle.sla_check_interval(catalogue).total_seconds())

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stopping.set)
        await worker.run()

    asyncio.run(run())
