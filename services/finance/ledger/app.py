"""The finance ledger process: the recharge engine consuming Kafka, and the finance API."""

from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.finance.ledger import tables
from services.finance.ledger.api import router
from services.finance.ledger.book import Ledger
from services.finance.ledger.closing import MonthEnd
from services.finance.ledger.engine import RechargeEngine
from services.finance.ledger.schema import upgrade
from services.finance.ledger.signing import Signer
from shared.api import app as api_app
from shared.db import engine
from shared.idempotency import IdempotencyKeys
from shared.kafka import bus
from shared.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    signer = Signer.load(settings)  # before anything starts: production refuses to run without its key

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state = app.state
        state.db = engine(settings.database("ledger"))
        upgrade(state.db)
        state.month_end = MonthEnd(state.db, state.registry, signer)
        state.signer = signer
        state.idempotency = IdempotencyKeys(state.db, tables.idempotency_keys)
        # Tells the ledger's refusals and sends its dead letters: acknowledged, never dropped.
        producer = bus.producer(settings.bootstrap)
        await producer.start()
        recharge = RechargeEngine(Ledger(state.db, state.registry), state.codec, producer)
        try:
            state.health.start(recharge.runner(settings.bootstrap))
            yield
        finally:
            await producer.stop()
            state.db.dispose()

    app = api_app.create("finance-ledger", "HPS Back Office finance API", "Shared costs, period close and recharge statements.",
                         settings, lifespan)
    app.include_router(router)
    return app
