"""`hps migrate`: every service's database brought to the current schema, as each does when it
starts; for a deployment's migration job, so that services start on a schema that is ready."""

from collections.abc import Callable
from functools import partial

import typer
from sqlalchemy import Engine, MetaData
from sqlalchemy.engine import make_url

from services.finance.ledger.schema import upgrade
from services.gateway import tables as gateway_tables
from services.ops import replay
from shared import audit, privileges
from shared.db import create_tables, engine
from shared.kafka import positions
from shared.request_engine import state
from shared.settings import Settings, get_settings
from shared.topics import SERVICES


def _tables(*metadatas: MetaData) -> list[Callable[[Engine], None]]:
    return [partial(create_tables, m) for m in metadatas]


SCHEMAS: dict[str, list[Callable[[Engine], None]]] = {
    "gateway": _tables(gateway_tables.metadata, positions.metadata),
    **{name: _tables(state.metadata, positions.metadata) for name in SERVICES},
    "ledger": [upgrade],  # Alembic: the ledger's tables are migrated, never dropped and made again
    "ops": _tables(replay.metadata),
    "audit": _tables(audit.metadata),
}


def migrate_all(settings: Settings, say: Callable[[str], None] = lambda line: None) -> None:
    """Every service's database to the current schema, one after another: instances starting
    together then find it ready rather than race to make it. With HPS_DATABASE_OWNER_URL, as the
    owner, and then the application role is granted what it may do (shared/privileges.py)."""
    for name, steps in SCHEMAS.items():
        url = settings.database_owner_url or settings.database(name)
        db = engine(url)
        try:
            for step in steps:
                step(db)
        finally:
            db.dispose()
        say(f"{name:<12} {make_url(url).render_as_string(hide_password=True)}  up to date")
    if settings.database_owner_url:
        role = privileges.application_role(settings.database_url or "sqlite://")
        if role in (None, privileges.application_role(settings.database_owner_url)):
            raise SystemExit("HPS_DATABASE_URL must name the application role's login on the owner's "
                             "PostgreSQL database, another role than HPS_DATABASE_OWNER_URL's")
        owner = engine(settings.database_owner_url)
        try:
            with owner.begin() as c:
                privileges.apply(c, role)
        finally:
            owner.dispose()
        say(f"{'privileges':<12} {role} may read and append, and update working state only")


def migrate() -> None:
    """Bring every service's database to the current schema, then exit."""
    migrate_all(get_settings(), typer.echo)
