"""The finance ledger process: the recharge engine consuming Kafka, and the finance API."""

import asyncio
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.finance.ledger.api import router
from services.finance.ledger.book import Ledger
from services.finance.ledger.closing import MonthEnd
from services.finance.ledger.engine import RechargeEngine
from services.finance.ledger.schema import upgrade
from shared.api import app as api_app
from shared.db import engine
from shared.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state = app.state
        state.db = engine(settings.database("ledger"))
        upgrade(state.db)
        state.month_end = MonthEnd(state.db, state.registry)
        recharge = RechargeEngine(settings.bootstrap, Ledger(state.db, state.registry), state.codec)
        ready = asyncio.Event()
        running = asyncio.create_task(recharge.run(ready))
        await asyncio.wait([running, asyncio.create_task(ready.wait())], return_when=asyncio.FIRST_COMPLETED)
        if running.done():
            running.result()
        try:
            yield
        finally:
            recharge.stopping.set()
            await asyncio.gather(running, return_exceptions=True)
            state.db.dispose()

    app = api_app.create("finance-ledger", "HPS Back Office finance API", "Shared costs, period close and recharge statements.",
                         settings, lifespan)
    app.include_router(router)
    return app
