"""What every API process sets up: tenants, the codec, tokens, an acknowledged producer, errors."""

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import uvicorn
from fastapi import FastAPI, Request, Response

from shared import bus, metrics
from shared.api import errors
from shared.api.auth import load_tokens
from shared.events import EventCodec
from shared.logging import configure
from shared.settings import Settings, get_settings
from shared.tenants import Registry


def create(service: str, title: str, description: str, settings: Settings,
           service_lifespan: Callable[[FastAPI], AbstractAsyncContextManager]) -> FastAPI:
    metrics.serving(service)
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = app.state
        state.registry = Registry.load(settings.tenants_file)
        state.codec = EventCodec(state.registry)
        state.tokens = load_tokens(settings.tokens_file)
        state.producer = bus.api_producer(settings.bootstrap, settings.kafka_request_timeout_ms)
        await state.producer.start()
        try:
            async with service_lifespan(app):
                yield
        finally:
            await state.producer.stop()

    app = FastAPI(title=title, version="1", description=description, lifespan=lifespan)
    errors.install(app)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(metrics.generate_latest(), media_type=metrics.CONTENT_TYPE_LATEST)

    @app.middleware("http")
    async def timing(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        metrics.HTTP_REQUESTS.labels(service, request.method, getattr(route, "path", "unmatched"),
                                     str(response.status_code)).observe(time.perf_counter() - started)
        return response

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    return app


async def publish(request: Request, topic: str, event, key: str) -> None:
    """Publish and wait for the broker's acknowledgement; without it nothing was accepted (503)."""
    try:
        await bus.publish(request.app.state.producer, request.app.state.codec, topic, event, key)
    except bus.BrokerError as exc:
        raise errors.ApiError(503, "unavailable", f"the event bus did not acknowledge ({exc.__class__.__name__}); "
                                                  "nothing was recorded, try again") from None


def serve(create_app: Callable[[Settings], FastAPI], port: Callable[[Settings], int]) -> None:
    """Run an API process: `python -m services.<name>`."""
    settings = get_settings()
    configure(settings.log_level)
    uvicorn.run(create_app(settings), host=settings.gateway_host, port=port(settings),
                log_level=settings.log_level.lower())
