"""Disputed statement lines and finance's answers (credit notes), immutable like every ledger fact

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from services.finance.ledger.migrations import immutable

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

IMMUTABLE = ("ledger_disputes", "ledger_dispute_answers")


def upgrade() -> None:
    op.create_table(
        "ledger_disputes",
        sa.Column("dispute_id", sa.String(36), primary_key=True),
        sa.Column("event_id", sa.String(36), sa.ForeignKey("ledger_events.event_id"), nullable=False),
        sa.Column("tenant", sa.String(32), nullable=False),
        sa.Column("statement_number", sa.String(32), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("line_id", sa.String(36), nullable=False),
        sa.Column("line_source", sa.String(16), nullable=False),
        sa.Column("line_period", sa.String(7), nullable=False),
        sa.Column("line_for", sa.String(32), nullable=False),
        sa.Column("service", sa.String(32), nullable=False),
        sa.Column("amount", sa.Numeric(16, 2), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raised_by", sa.String(200), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_ledger_disputes_line", "ledger_disputes", ["line_id"])
    op.create_table(
        "ledger_dispute_answers",
        sa.Column("dispute_id", sa.String(36), sa.ForeignKey("ledger_disputes.dispute_id"), primary_key=True),
        sa.Column("event_id", sa.String(36), sa.ForeignKey("ledger_events.event_id"), nullable=False),
        sa.Column("outcome", sa.String(8), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("credit", sa.Numeric(16, 2)),
        sa.Column("credited_on", sa.String(7)),
        sa.Column("reapportioned", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("answered_by", sa.String(200), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
    )
    immutable.guard(*IMMUTABLE)


def downgrade() -> None:
    op.drop_table("ledger_dispute_answers")
    op.drop_index("ix_ledger_disputes_line", table_name="ledger_disputes")
    op.drop_table("ledger_disputes")
