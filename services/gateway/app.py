"""The partner API application: wiring of settings, the producer, the read model and the routes."""

import asyncio
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.gateway import readmodel, store
from shared.api import errors
from shared.api.auth import load_tokens
from services.gateway.routes import router
from shared import bus
from shared.catalogue import load_all
from shared.db import engine
from shared.events import EventCodec
from shared.settings import Settings
from shared.tenants import Registry


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state = app.state
        state.registry = Registry.load(settings.tenants_file)
        state.codec = EventCodec(state.registry)
        state.catalogues = load_all(settings.catalogue_dir)
        state.tokens = load_tokens(settings.tokens_file)
        db = engine(settings.database("gateway"))
        store.create(db)
        state.requests, state.idempotency = store.Requests(db), store.IdempotencyKeys(db)
        state.producer = bus.producer(settings.bootstrap)
        await state.producer.start()
        ready = asyncio.Event()
        follower = asyncio.create_task(readmodel.follow(settings.bootstrap, state.codec, state.requests, ready))
        await asyncio.wait([follower, asyncio.create_task(ready.wait())], return_when=asyncio.FIRST_COMPLETED)
        if follower.done():
            follower.result()  # it failed to start: raise why
        try:
            yield
        finally:
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)
            await state.producer.stop()
            db.dispose()

    app = FastAPI(title="HPS Back Office partner API", version="1",
                  description="Service requests of the partners of Herefordshire Public Services.",
                  lifespan=lifespan)
    errors.install(app)
    app.include_router(router)

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    return app
