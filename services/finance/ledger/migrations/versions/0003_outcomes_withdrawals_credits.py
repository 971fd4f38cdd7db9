"""Command outcomes (commands, refusals), withdrawn shared costs, credits, successors on postings,
amounts set by hand

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


IMMUTABLE = ("ledger_withdrawals", "ledger_refusals", "ledger_commands")


def upgrade() -> None:
    op.add_column('ledger_postings', sa.Column('for_tenant', sa.String(length=32), nullable=True))
    op.add_column('ledger_charges', sa.Column('amount_set_by_hand', sa.Boolean(), nullable=False,
                                              server_default=sa.false()))
    op.add_column('ledger_shared_costs', sa.Column('reason', sa.Text(), nullable=True))
    op.add_column('ledger_shared_costs', sa.Column('replaces', sa.String(length=36), nullable=True))
    op.create_table('ledger_withdrawals',
    sa.Column('cost_id', sa.String(length=36), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('withdrawn_by', sa.String(length=200), nullable=False),
    sa.Column('rebasis', sa.String(length=16), nullable=True),
    sa.Column('replacement_id', sa.String(length=36), nullable=True),
    sa.Column('reversed_on', sa.String(length=7), nullable=True),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['cost_id'], ['ledger_shared_costs.cost_id'], ),
    sa.ForeignKeyConstraint(['event_id'], ['ledger_events.event_id'], ),
    sa.PrimaryKeyConstraint('cost_id')
    )
    op.create_table('ledger_refusals',
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('event_type', sa.String(length=100), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('tenant', sa.String(length=32), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=True),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('refusal_id', sa.String(length=36), nullable=False),
    sa.Column('refused_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('event_id'),
    sa.UniqueConstraint('refusal_id')
    )
    op.create_table('ledger_commands',
    sa.Column('command_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('subject', sa.String(length=36), nullable=False),
    sa.Column('tenant', sa.String(length=32), nullable=False),
    sa.Column('requested_by', sa.String(length=200), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('command_id')
    )
    op.create_index('ix_ledger_commands_subject', 'ledger_commands', ['subject', 'kind'], unique=False)
    # A charge's correction is looked for at every correction the API takes and the ledger posts.
    op.create_index('ix_ledger_charges_corrects', 'ledger_charges', ['corrects'], unique=False)

    # Withdrawals, refusals and commands are facts like the postings: never changed, never removed.
    if op.get_bind().dialect.name == "postgresql":
        for table in IMMUTABLE:
            op.execute(f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()")
    else:
        for table in IMMUTABLE:
            for change in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {table}_no_{change.lower()} BEFORE {change} ON {table} BEGIN "
                           f"SELECT RAISE(ABORT, '{table} is immutable: corrections are new entries'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in IMMUTABLE:
            op.execute(f"DROP TRIGGER {table}_immutable ON {table}")
    op.drop_index('ix_ledger_charges_corrects', table_name='ledger_charges')
    op.drop_index('ix_ledger_commands_subject', table_name='ledger_commands')
    op.drop_table('ledger_commands')
    op.drop_table('ledger_refusals')
    op.drop_table('ledger_withdrawals')
    with op.batch_alter_table('ledger_shared_costs') as batch:
        batch.drop_column('replaces')
        batch.drop_column('reason')
    with op.batch_alter_table('ledger_charges') as batch:
        batch.drop_column('amount_set_by_hand')
    with op.batch_alter_table('ledger_postings') as batch:
        batch.drop_column('for_tenant')
