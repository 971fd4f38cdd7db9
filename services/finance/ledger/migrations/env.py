"""Alembic environment: the connection is handed in by services.finance.ledger.schema."""

from alembic import context

from services.finance.ledger.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, version_table="ledger_alembic_version")
with context.begin_transaction():
    context.run_migrations()
