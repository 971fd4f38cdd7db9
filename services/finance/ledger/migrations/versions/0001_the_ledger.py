"""the ledger

Revision ID: 0001
Revises: 
"""

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


IMMUTABLE = ("ledger_postings", "ledger_statements", "ledger_events")


def upgrade() -> None:
    op.create_table('ledger_control',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('statement_sequence', sa.Integer(), nullable=False),
    sa.Column('writes', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.execute("INSERT INTO ledger_control (id, statement_sequence, writes) VALUES (1, 0, 0)")
    op.create_table('ledger_events',
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('event_type', sa.String(length=100), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('event_id')
    )
    op.create_table('ledger_periods',
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_by', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('period')
    )
    op.create_table('ledger_postings',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('source_id', sa.String(length=36), nullable=False),
    sa.Column('account', sa.String(length=64), nullable=False),
    sa.Column('tenant', sa.String(length=32), nullable=True),
    sa.Column('service', sa.String(length=32), nullable=False),
    sa.Column('debit', sa.Numeric(precision=16, scale=2), nullable=False),
    sa.Column('credit', sa.Numeric(precision=16, scale=2), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('original_period', sa.String(length=7), nullable=False),
    sa.Column('basis', sa.String(length=16), nullable=True),
    sa.Column('exact_share', sa.String(length=40), nullable=True),
    sa.Column('posted_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_ledger_postings_original', 'ledger_postings', ['original_period', 'service'], unique=False)
    op.create_index('ix_ledger_postings_period_tenant', 'ledger_postings', ['period', 'tenant'], unique=False)
    op.create_table('ledger_statements',
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('tenant', sa.String(length=32), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('total', sa.Numeric(precision=16, scale=2), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('number'),
    sa.UniqueConstraint('sequence'),
    sa.UniqueConstraint('tenant', 'period', name='uq_ledger_statement_tenant_period')
    )
    op.create_table('ledger_charges',
    sa.Column('charge_id', sa.String(length=36), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('tenant', sa.String(length=32), nullable=False),
    sa.Column('billed_tenant', sa.String(length=32), nullable=False),
    sa.Column('service', sa.String(length=32), nullable=False),
    sa.Column('request_type', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=16, scale=2), nullable=False),
    sa.Column('unit_price', sa.Numeric(precision=16, scale=2), nullable=False),
    sa.Column('amount', sa.Numeric(precision=16, scale=2), nullable=False),
    sa.Column('cost_centre', sa.String(length=32), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('request_id', sa.String(length=36), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('corrects', sa.String(length=36), nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['ledger_events.event_id'], ),
    sa.PrimaryKeyConstraint('charge_id')
    )
    op.create_table('ledger_shared_costs',
    sa.Column('cost_id', sa.String(length=36), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('service', sa.String(length=32), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=16, scale=2), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('basis', sa.String(length=16), nullable=False),
    sa.Column('recorded_by', sa.String(length=200), nullable=False),
    sa.Column('apportioned', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['ledger_events.event_id'], ),
    sa.PrimaryKeyConstraint('cost_id')
    )


    # Posted entries and issued statements are facts: the database itself refuses to change them.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""CREATE FUNCTION ledger_refuse_change() RETURNS trigger AS $$
                      BEGIN RAISE EXCEPTION '% is immutable: corrections are new entries', TG_TABLE_NAME; END;
                      $$ LANGUAGE plpgsql""")
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
        op.execute("DROP FUNCTION ledger_refuse_change()")
    op.drop_table('ledger_shared_costs')
    op.drop_table('ledger_control')
    op.drop_table('ledger_charges')
    op.drop_table('ledger_statements')
    op.drop_index('ix_ledger_postings_period_tenant', table_name='ledger_postings')
    op.drop_index('ix_ledger_postings_original', table_name='ledger_postings')
    op.drop_table('ledger_postings')
    op.drop_table('ledger_periods')
    op.drop_table('ledger_events')
