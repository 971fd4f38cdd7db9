"""What every API process sets up: tenants, the codec, tokens, an acknowledged producer, errors."""

import asyncio
import os
import re
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import structlog
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from shared import audit, faults, idempotency, metrics
from shared.api import docs, errors
from shared.api.auth import PrincipalDep, require
from shared.api.identity import Identities
from shared.audit import Audited, AuditLog
from shared.db import create_tables, engine
from shared.events import EventCodec
from shared.health import Health
from shared.kafka import bus
from shared.logging import configure, get_logger
from shared.settings import Settings, get_settings
from shared.tenants import Registry


def create(service: str, title: str, description: str, settings: Settings,
           service_lifespan: Callable[[FastAPI], AbstractAsyncContextManager], api: bool = True,
           passed_on: Sequence[str] = (), guards: Sequence[tuple[type, dict]] = ()) -> FastAPI:
    """An HTTP app with /health and /metrics, its background tasks started by `service_lifespan`
    under `app.state.health`. With `api`, also the identities, the producer and the audit trail of an
    API; `passed_on`: path prefixes it hands to other services, which audit those calls themselves;
    `guards`: ASGI middleware (class, options) inside the audit trail, so that what they refuse is in it."""
    metrics.serving(service)
    faults.arm(settings.faults, settings.state_dir, service)
    registry = Registry.load(settings.tenants_file)
    # Loaded before anything starts: production refuses the development tokens at once.
    identities = Identities.load(settings, frozenset(registry.tenants)) if api else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = app.state
        state.registry = registry
        state.codec = EventCodec(state.registry)
        if api:
            state.identities = identities
            state.audit = AuditLog(engine(settings.database("audit")))
            create_tables(audit.metadata, state.audit.engine)
            state.producer = bus.api_producer(settings.bootstrap, settings.kafka_request_timeout_ms)
            await state.producer.start()
        try:
            async with service_lifespan(app):
                try:
                    yield
                finally:
                    await state.health.stop()
        finally:
            if api:
                await state.producer.stop()
                await identities.close()
                state.audit.engine.dispose()

    if api:
        app = docs.app(title, description, lifespan)
    else:
        app = FastAPI(title=title, version="1", description=description, lifespan=lifespan,
                      openapi_url=None, docs_url=None, redoc_url=None)
    app.state.health = Health(service, settings.consumer_stall_s)
    errors.install(app)

    async def prometheus() -> Response:
        return Response(metrics.generate_latest(), media_type=metrics.CONTENT_TYPE_LATEST)

    if api:  # tenant labels: for operations only
        async def for_ops(who: PrincipalDep) -> Response:
            require(who, "ops")
            return await prometheus()
        app.get("/metrics", include_in_schema=False)(for_ops)
    else:  # a worker has no callers to authenticate: it listens on internal_host (loopback by default)
        app.get("/metrics", include_in_schema=False)(prometheus)

    for guard, options in guards:
        app.add_middleware(guard, **options)
    if api:
        app.add_middleware(Audited, service=service, passed_on=passed_on)
    app.add_middleware(Timing, service=service)
    app.add_middleware(RequestIds)

    @app.get("/health", include_in_schema=False)
    async def health() -> JSONResponse:
        """200 when every consumer of the process runs and makes progress; 503 naming the one that does not."""
        healthy, body = app.state.health.report()
        return JSONResponse(body, 200 if healthy else 503)

    return app


# A caller's X-Request-ID is taken when it is a plain short token: anything else must not reach the logs.
SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")


class RequestIds:
    """Binds the request's id (the caller's X-Request-ID, else a new one) to every log line written while
    it is handled, and answers it in X-Request-ID. Outermost, so that the other middleware's lines carry it."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = next((value for name, value in scope["headers"] if name == b"x-request-id"), b"")
        request_id = given.decode() if SANE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        # Each request runs in a task of its own, with a copy of the context: what is bound here ends with
        # it. A call made in process (the portal asking the API) gets the caller's context back after.
        before = structlog.contextvars.get_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)

        async def sending(message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
            await send(message)

        await self.app(scope, receive, sending)
        # Not on an exception: Starlette logs an unexpected error outside every middleware, and that line
        # should carry the id too.
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(**before)


class Timing:
    """Each request's time by route and status, for /metrics, and at DEBUG in the log (there is no access
    log at INFO: it cost more than a health check). Plain ASGI: Starlette's BaseHTTPMiddleware would add a
    task and a body stream to every request."""

    def __init__(self, app, service: str):
        self.app, self.service, self.log = app, service, get_logger(service)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), 500

        async def sending(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route, took_s = getattr(scope.get("route"), "path", "unmatched"), time.perf_counter() - started
            metrics.HTTP_REQUESTS.labels(self.service, scope["method"], route, str(status)).observe(took_s)
            self.log.debug("request", method=scope["method"], route=route, status=status,
                           took_ms=round(took_s * 1000, 1))


async def publish(request: Request, topic: str, event, key: str) -> None:
    """Publish and wait for the broker's acknowledgement; without it nothing was accepted (503)."""
    try:
        await bus.publish(request.app.state.producer, request.app.state.codec, topic, event, key)
    except bus.BrokerError as exc:
        raise errors.ApiError(503, "unavailable", f"the event bus did not acknowledge ({exc.__class__.__name__}); "
                                                  "nothing was recorded, try again") from None


async def publish_once(request: Request, keys: idempotency.IdempotencyKeys, scope: str, key: str | None, body: str,
                       command: idempotency.Command, **conflict) -> None:
    """Publish `command`, under an Idempotency-Key if the caller gave one: then once, whatever the
    retries and crashes in between. `conflict` goes into the 409 when the key was used for another body."""
    if not key:
        return await publish(request, command.topic, command.event, command.message_key)
    body_sha256 = idempotency.digest(body)
    # In a thread, as every database wait on a request's path: the event loop serves the others meanwhile.
    taken = await asyncio.to_thread(keys.claim, scope, key, body_sha256, command)
    if taken:
        if taken.body_sha256 != body_sha256:
            raise errors.ApiError(409, "idempotency_conflict", "this Idempotency-Key was used with a different body",
                                  **conflict)
        if taken.state == idempotency.PUBLISHED:
            return
        command = taken.command  # the very event the first call claimed the key for
    faults.reach("after-idempotency-claim")
    await publish(request, command.topic, command.event, command.message_key)
    await asyncio.to_thread(keys.published, scope, key)


def serve(create_app: Callable[[Settings], FastAPI], port: Callable[[Settings], int],
          workers: Callable[[Settings], int] = lambda _: 1, worker_app: str | None = None,
          host: Callable[[Settings], str] = lambda settings: settings.internal_host) -> None:
    """Run a process (`python -m services.<name>`) until SIGTERM; exits non-zero if one of its
    background tasks ended on its own. With more than one worker, uvicorn's supervisor runs that
    many processes of `worker_app` (an import path to an app factory) on the one port, and starts
    again any that dies. It listens on `host`: internal_host, but for the gateway."""
    settings = get_settings()
    configure(settings.log_level)
    if (count := workers(settings)) > 1 and worker_app:
        uvicorn.run(worker_app, factory=True, workers=count, host=host(settings), port=port(settings),
                    log_config=None, log_level=settings.log_level.lower(), access_log=False)
        return
    app = create_app(settings)
    # log_config=None: uvicorn keeps its hands off logging, so its lines go through ours, as JSON.
    server = uvicorn.Server(uvicorn.Config(app, host=host(settings), port=port(settings), log_config=None,
                                           log_level=settings.log_level.lower(), access_log=False))
    app.state.health.on_failure = lambda: setattr(server, "should_exit", True)
    server.run()
    if app.state.health.failed:
        get_logger("health").error("stopped", reason=app.state.health.failed)
        sys.exit(1)


def supervised(create_app: Callable[[Settings], FastAPI]) -> FastAPI:
    """The app of one of several worker processes under uvicorn's supervisor: a background task that
    ends stops this process (SIGTERM, so it shuts down in order), and the supervisor starts another."""
    settings = get_settings()
    configure(settings.log_level)
    app = create_app(settings)
    app.state.health.on_failure = lambda: os.kill(os.getpid(), signal.SIGTERM)
    return app
