"""The partner API application: the read model, the routes, and the finance and ops APIs behind it."""

from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from services.finance.ledger import api as finance_api
from services.gateway import audit_api, proxy, readmodel, store, tables
from services.gateway.commands import HTTP_STATUS, Commands
from services.gateway.portal import routes as portal
from services.gateway.rate_limits import RateLimits
from services.gateway.routes import move, router
from services.ops import api as ops_api
from shared.api import app as api_app
from shared.api import docs
from shared.catalogue import load_all
from shared.clock import Clock, system_clock
from shared.db import engine
from shared.idempotency import IdempotencyKeys
from shared.kafka.positions import Positions
from shared.settings import Settings


def create_app(settings: Settings, clock: Clock = system_clock) -> FastAPI:
    """`clock` is "now" for the routes: whether a tenant is active today, when a request was submitted."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state = app.state
        state.catalogues = load_all(settings.catalogue_dir)
        db = engine(settings.database("gateway"))
        tables.create(db)
        state.requests = store.Requests(db, Positions(db, settings.gateway_group, from_start=True))
        state.commands = Commands(db, state.requests)
        state.idempotency = IdempotencyKeys(db, tables.idempotency_keys)
        state.health.start(readmodel.runner(settings.bootstrap, settings.gateway_group, state.codec,
                                            state.requests, state.commands.waiters, state.producer))
        # Several gateway processes share the database: a decision may be recorded by another one.
        state.health.watch("outcomes-elsewhere", state.commands.waiters.look_elsewhere(state.commands.decided))
        async with httpx.AsyncClient(base_url=settings.finance_url, timeout=120) as finance, \
                httpx.AsyncClient(base_url=settings.ops_url, timeout=httpx.Timeout(120, read=None)) as ops:
            state.upstreams = {"finance": finance, "ops": ops}
            try:
                yield
            finally:
                db.dispose()

    app = api_app.create("gateway", "HPS Back Office partner API", "Service requests and recharge statements of the "
                         "partners of Herefordshire Public Services.", settings, lifespan,
                         passed_on=proxy.PASSED_ON + portal.AUDITED_BEHIND,
                         guards=[(RateLimits, {"limits": settings.rate_limit})] if settings.rate_limit else [])
    app.state.clock, app.state.budgets_file = clock, settings.budgets_file
    app.include_router(router)
    app.include_router(portal.router)
    app.mount("/portal/static", portal.static, name="portal-static")
    app.include_router(audit_api.router)
    app.include_router(proxy.router)
    # One document of all a caller reaches here: the gateway's routes, and those of finance and ops that
    # the proxy passes on. A transition waited for answers its worker's refusal, decided at run time.
    docs.describe(app, behind=(finance_api.router, ops_api.router), decided={move: HTTP_STATUS, **finance_api.DECIDED},
                  limited=bool(settings.rate_limit))
    return app


def worker_app() -> FastAPI:
    """One of HPS_GATEWAY_WORKERS gateway processes (`python -m services.gateway`)."""
    return api_app.supervised(create_app)
