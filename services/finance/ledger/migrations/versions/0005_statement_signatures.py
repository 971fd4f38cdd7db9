"""Issued statements signed: the SHA-256 of each statement's JSON, its Ed25519 signature, the
signature of the tenant's statement before it, and the signing key's id. Statements issued before
carry none.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

COLUMNS = (("body_sha256", 64), ("signature", 128), ("previous_signature", 128), ("key_id", 32))


def upgrade() -> None:
    for name, length in COLUMNS:
        op.add_column("ledger_statements", sa.Column(name, sa.String(length)))


def downgrade() -> None:
    with op.batch_alter_table("ledger_statements") as table:  # SQLite drops a column by making the table anew
        for name, _ in reversed(COLUMNS):
            table.drop_column(name)
