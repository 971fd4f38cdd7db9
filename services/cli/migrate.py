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
}


def migrate_all(settings: Settings, say: Callable[[str], None] = lambda line: None) -> None:
    """Every service's database to the current schema, one after another: instances starting
    together then find it ready rather than race to make it."""
    for name, steps in SCHEMAS.items():
        url = settings.database(name)
        db = engine(url)
        try:
            for step in steps:
                step(db)
        finally:
            db.dispose()
        say(f"{name:<12} {make_url(url).render_as_string(hide_password=True)}  up to date")


def migrate() -> None:
    """Bring every service's database to the current schema, then exit."""
    migrate_all(get_settings(), typer.echo)
