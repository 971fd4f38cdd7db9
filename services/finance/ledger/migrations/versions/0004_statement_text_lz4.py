"""Issued statements' text compressed with lz4 on PostgreSQL: a statement of a million lines is some
400 MB of JSON, which the default (pglz) takes seconds to compress and lz4 a fraction of one

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Statements issued before keep their compression; a server built without lz4 keeps pglz.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""DO $$ BEGIN
                          ALTER TABLE ledger_statements ALTER COLUMN body SET COMPRESSION lz4;
                      EXCEPTION WHEN feature_not_supported THEN NULL;
                      END $$""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE ledger_statements ALTER COLUMN body SET COMPRESSION default")
