"""The faust wiring of a service worker: decode, call the handler, emit, remember.

No business rules here. Request state lives in a faust table whose changelog is a compacted
Kafka topic, co-partitioned with the requests topic: each worker holds the requests of its
partitions, and a restarted worker rebuilds them from the changelog before it consumes.
"""

import asyncio
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import uuid4

import faust

from shared import lifecycle
from shared.bus import dead_letter_headers
from shared.catalogue import Catalogue
from shared.catalogue import load as load_catalogue
from shared.contracts import RequestSnapshot, SlaCheck, type_name
from shared.events import EventCodec, InvalidEvent
from shared.logging import configure, get_logger
from shared.request_handlers import Handler, RequestHandlers, Unprocessable
from shared.settings import Settings, get_settings
from shared.tenants import Registry
from shared.topics import DEAD_LETTERS, requests_topic
from shared.worker import faust_app, raw_topic, run

RETRIES = 3


def build_app(service: str, settings: Settings, handlers: dict[str, Handler], codec: EventCodec,
              sla_interval_s: float) -> faust.App:
    app = faust_app(service, settings)
    log = get_logger(service)
    state = app.Table("state", default=None,
                      schema=faust.Schema(key_serializer="json", value_serializer="json"))
    source = raw_topic(app, requests_topic(service))
    outputs: dict[str, faust.TopicT] = {}
    dead_letters = raw_topic(app, DEAD_LETTERS)

    def topic(name: str) -> faust.TopicT:
        return outputs.setdefault(name, raw_topic(app, name))

    @app.agent(source)
    async def process(stream):
        async for message_event in stream.events():
            message = message_event.message
            headers = list(message.headers or [])
            key = message.key.decode() if message.key else None
            try:
                event = codec.decode(message.value, headers)
                handler = handlers.get(event.type)
                if handler is None:
                    raise Unprocessable(f"{service} does not handle {event.type}")
                outcome = await _with_retries(handler, state.get(key), event)
            except (InvalidEvent, Unprocessable, HandlerFailed) as exc:
                log.warning("dead_letter", reason=str(exc), topic=message.topic, offset=message.offset)
                await (await dead_letters.send(key=message.key, value=message.value, headers=dead_letter_headers(
                    str(exc), message.topic, message.partition, message.offset, headers)))
                continue
            # Emit first, then remember: a crash in between redelivers the event, and the handler
            # emits the same ids again, which consumers deduplicate.
            for name, out_key, out in outcome.emits:
                out_key_bytes, value, out_headers = codec.encode(out, out_key)
                await (await topic(name).send(key=out_key_bytes, value=value, headers=out_headers))
            if outcome.state is not None:
                state[key] = outcome.state
            log.info("applied", event_id=str(event.id), tenant=event.tenant, type=event.type,
                     request_id=event.subject, emitted=len(outcome.emits))

    @app.timer(interval=sla_interval_s)
    async def sla_clock():
        now = datetime.now(UTC)
        for key, value in list(state.items()):
            if value and "request" in value and lifecycle.overdue(RequestSnapshot.model_validate(value["request"]), now):
                check = codec.build(type_name(service, "request.sla-check"), f"/hps/{service}",
                                    value["tenant"], SlaCheck(request_id=value["request"]["request_id"]),
                                    subject=key, id=uuid4())
                k, v, h = codec.encode(check, key)
                await source.send(key=k, value=v, headers=h)

    return app


class HandlerFailed(RuntimeError):
    pass


async def _with_retries(handler: Handler, current, event):
    for attempt in range(1, RETRIES + 1):
        try:
            return handler(current, event)
        except (InvalidEvent, Unprocessable):
            raise
        except Exception as exc:  # a bug or a transient fault: retry, then dead-letter with the reason
            if attempt == RETRIES:
                raise HandlerFailed(f"handler failed {RETRIES} times: {exc!r}") from exc
            await asyncio.sleep(0.2 * attempt)


ExtraHandlers = Callable[[Catalogue, EventCodec, Registry], dict[str, Handler]]


def main(service: str, extra: ExtraHandlers | None = None) -> None:
    """Run `service`'s worker: the shared request handlers plus the service's own."""
    settings = get_settings()
    configure(settings.log_level)
    registry = Registry.load(settings.tenants_file)
    codec = EventCodec(registry)
    catalogue = load_catalogue(service, settings.catalogue_dir)
    handlers = RequestHandlers(service, catalogue, codec).registry()
    if extra:
        handlers |= extra(catalogue, codec, registry)
    app = build_app(service, settings, handlers, codec, lifecycle.sla_check_interval(catalogue).total_seconds())
    sys.argv = [sys.argv[0], "worker"]
    run(app, settings.log_level.lower())
