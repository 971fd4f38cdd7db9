"""The ops process: the observer, the lag reader, the dashboard and its API."""

import asyncio
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.ops.api import router
from services.ops.figures import Figures
from services.ops.lag import LagReader
from services.ops.observer import Observer
from services.ops.replay import Replays
from shared import metrics
from shared.api import app as api_app
from shared.db import engine
from shared.logging import get_logger
from shared.settings import Settings

LAG_EVERY_S = 3
log = get_logger("ops")


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state = app.state
        state.figures = Figures()
        state.observer = Observer(settings.bootstrap, state.figures)
        db = engine(settings.database("ops"))
        state.replays = Replays(db)
        state.lags = []
        reader = LagReader(settings.bootstrap)
        await reader.start()
        for runner in state.observer.runners(state.producer):
            state.health.start(runner)
        state.health.watch("lag-reader", _read_lag(state, reader))
        try:
            yield
        finally:
            await reader.stop()
            db.dispose()

    app = api_app.create("ops", "HPS Back Office operations", "Live figures of the event streams, consumer lag, "
                         "dead letters and SLA breaches.", settings, lifespan)
    app.include_router(router)
    return app


async def _read_lag(state, reader: LagReader) -> None:
    while True:
        try:
            state.lags = await reader.read()
            metrics.consumer_lag({(p.group, p.topic, p.partition): (p.lag, p.oldest_unprocessed_age_s)
                                  for p in state.lags})
        except Exception as exc:  # the broker may be restarting: keep the last figures, say so, try again
            log.warning("lag_read_failed", error=repr(exc))
        await asyncio.sleep(LAG_EVERY_S)
