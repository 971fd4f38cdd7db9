"""A service worker: consume its requests topic, call the handler, emit, remember, commit.

No business rules here. Each partition's fetch is handled as one batch, inside the one consumer
runner (shared/kafka/consuming.py): the handler is called for each message in order, on the state
the messages before it left; then every output is published and the acknowledgements awaited
together, then the batch's state changes are stored in one transaction, then the runner commits
the offsets. A crash anywhere in between redelivers the batch, the handlers emit the same event
ids again, and consumers deduplicate them.
"""

import asyncio
from collections.abc import Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from uuid import uuid4

from aiokafka import ConsumerRecord
from fastapi import FastAPI

from shared import faults, metrics
from shared.api import app as api_app
from shared.catalogue import Catalogue
from shared.catalogue import load as load_catalogue
from shared.contracts import RequestEvent, RequestSnapshot, SlaCheck
from shared.db import engine
from shared.events import Event, EventCodec
from shared.kafka import bus
from shared.kafka.consuming import TRANSIENT, Refusals, Runner, group_consumer
from shared.kafka.positions import Positions, handled
from shared.logging import get_logger
from shared.request_engine import lifecycle
from shared.request_engine.handlers import Handler, Outcome, RequestHandlers, Unprocessable
from shared.request_engine.state import StateStore
from shared.settings import Settings
from shared.tenants import Registry
from shared.topics import SERVICES, requests_topic


class Worker:
    def __init__(self, service: str, bootstrap: str, handlers: dict[str, Handler], codec: EventCodec,
                 store: StateStore, sla_interval_s: float):
        self.service, self.bootstrap, self.handlers, self.codec, self.store = service, bootstrap, handlers, codec, store
        self.sla_interval_s = sla_interval_s
        self.topic = requests_topic(service)
        self.group = group(service)
        self.log = get_logger(service)
        self.producer = bus.producer(bootstrap)

    def runner(self) -> Runner:
        return Runner(self.service, group_consumer(self.bootstrap, self.group), self.handle, group=self.group,
                      topics=[self.topic], dead_letters=self.producer, batch=True, positions=self.store.positions)

    async def handle(self, messages: list[ConsumerRecord]) -> Refusals:
        """One partition's fetch, in order; returns the messages refused (they become dead letters)."""
        states = self.store.get_many(m.key.decode(errors="replace") for m in messages if m.key)
        changed: dict[str, tuple[str, dict]] = {}
        emits, refused = [], []
        for message in messages:
            try:
                key, event, outcome = self._apply(message, states)
            except TRANSIENT:
                raise
            except Exception as exc:  # the message's own fault: a dead letter, and the batch goes on
                refused.append((message, exc))
                continue
            emits += outcome.emits
            if outcome.state is not None:
                states[key] = outcome.state
                changed[key] = (event.tenant, outcome.state)
        await bus.publish_all(self.producer, self.codec, emits)
        faults.reach("worker-batch-published")
        self.store.put_many(((key, tenant, state, _overdue_at(state)) for key, (tenant, state) in changed.items()),
                            handled(messages, [m for m, _ in refused]))
        return refused

    def _apply(self, message: ConsumerRecord, states: dict[str, dict]) -> tuple[str, Event, Outcome]:
        event = self.codec.decode(message.value, message.headers)
        metrics.consumed(message.topic, event.tenant, event.type)
        handler = self.handlers.get(event.type)
        if handler is None:
            raise Unprocessable(f"{self.service} does not handle {event.type}")
        if message.key is None:
            raise Unprocessable("a request event needs its entity as the message key")
        key = message.key.decode(errors="replace")
        with metrics.timed(event.type):
            outcome = handler(states.get(key), event)
        self.log.info("applied", event_id=str(event.id), tenant=event.tenant, type=event.type,
                      request_id=event.subject, emitted=len(outcome.emits))
        return key, event, outcome

    async def sla_clock(self) -> None:
        """Ask, through the requests topic, whether each overdue request is still open; the
        handler decides and flags it, so all changes to a request go through one ordered stream."""
        while True:
            await asyncio.sleep(self.sla_interval_s)
            for key, tenant in self.store.overdue(datetime.now(UTC)):
                check = self.codec.build(RequestEvent.SLA_CHECK.of(self.service), f"/hps/{self.service}", tenant,
                                         SlaCheck(request_id=key), subject=key, id=uuid4())
                await bus.publish_all(self.producer, self.codec, [(self.topic, key, check)])


def group(service: str) -> str:
    return f"hps-{service}"


def _overdue_at(state: dict) -> datetime | None:
    if "request" not in state:
        return None
    request = RequestSnapshot.model_validate(state["request"])
    open_ = request.status in lifecycle.OPEN and not request.sla_breached
    return request.sla_due_at if open_ else None


ExtraHandlers = Callable[[Catalogue, EventCodec, Registry], dict[str, Handler]]


def create_app(service: str, settings: Settings, extra: ExtraHandlers | None = None) -> FastAPI:
    """`service`'s worker, the shared request handlers plus its own, behind /health and /metrics."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state = app.state
        catalogue = load_catalogue(service, settings.catalogue_dir)
        handlers = RequestHandlers(service, catalogue, state.codec).registry()
        if extra:
            handlers |= extra(catalogue, state.codec, state.registry)
        db = engine(settings.database(service))
        store = StateStore(db, service, Positions(db, group(service), from_start=False))
        worker = Worker(service, settings.bootstrap, handlers, state.codec, store,
                        lifecycle.sla_check_interval(catalogue).total_seconds())
        await worker.producer.start()
        try:
            state.health.start(worker.runner())
            state.health.watch("sla-clock", worker.sla_clock())
            worker.log.info("worker_started", topic=worker.topic)
            yield
        finally:  # the consumers have stopped by now (shared/api/app.py)
            await worker.producer.stop()
            db.dispose()

    return api_app.create(service, f"HPS Back Office {service} worker", f"The {service} request worker.", settings,
                          lifespan, api=False)


def port(service: str) -> Callable[[Settings], int]:
    """A worker's /health and /metrics: HPS_METRICS_PORT, else its place among the workers (as `hps up` gives)."""
    return lambda settings: settings.metrics_port or settings.worker_metrics_port + SERVICES.index(service)


def main(service: str, extra: ExtraHandlers | None = None) -> None:
    api_app.serve(lambda settings: create_app(service, settings, extra), port(service))
