"""Bring a ledger database to the current schema with the Alembic migrations."""

from importlib import resources

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine


def upgrade(engine: Engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(resources.files("services.finance.ledger").joinpath("migrations")))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
