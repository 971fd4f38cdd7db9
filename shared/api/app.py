"""What every API process sets up: tenants, the codec, tokens, an acknowledged producer, errors."""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from shared import bus
from shared.api import errors
from shared.api.auth import load_tokens
from shared.events import EventCodec
from shared.settings import Settings
from shared.tenants import Registry


def create(title: str, description: str, settings: Settings,
           service_lifespan: Callable[[FastAPI], AbstractAsyncContextManager]) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = app.state
        state.registry = Registry.load(settings.tenants_file)
        state.codec = EventCodec(state.registry)
        state.tokens = load_tokens(settings.tokens_file)
        state.producer = bus.producer(settings.bootstrap)
        await state.producer.start()
        try:
            async with service_lifespan(app):
                yield
        finally:
            await state.producer.stop()

    app = FastAPI(title=title, version="1", description=description, lifespan=lifespan)
    errors.install(app)

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    return app
