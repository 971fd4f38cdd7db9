"""The ledger's tables. Created and changed only by the Alembic migrations beside this file."""

from sqlalchemy import (
                        Column,
                        DateTime,
                        ForeignKey,
                        Index,
                        Integer,
                        MetaData,
                        Numeric,
                        String,
                        Table,
                        Text,
                        UniqueConstraint,
)

from shared import idempotency

metadata = MetaData()
Money = Numeric(16, 2)

# Every event applied, under its id: the guard that makes redelivery change nothing.
events = Table(
    "ledger_events", metadata,
    Column("event_id", String(36), primary_key=True),
    Column("event_type", String(100), nullable=False),
    Column("content_sha256", String(64), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

charges = Table(
    "ledger_charges", metadata,
    Column("charge_id", String(36), primary_key=True),
    Column("event_id", String(36), ForeignKey("ledger_events.event_id"), nullable=False),
    Column("tenant", String(32), nullable=False),  # as tagged on the event
    Column("billed_tenant", String(32), nullable=False),  # who answers for it (a successor, if ended)
    Column("service", String(32), nullable=False),
    Column("request_type", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("quantity", Numeric(16, 2), nullable=False),
    Column("unit_price", Money, nullable=False),
    Column("amount", Money, nullable=False),
    Column("cost_centre", String(32), nullable=False),
    Column("period", String(7), nullable=False),
    Column("request_id", String(36)),
    Column("description", Text, nullable=False),
    Column("corrects", String(36)),
)

shared_costs = Table(
    "ledger_shared_costs", metadata,
    Column("cost_id", String(36), primary_key=True),
    Column("event_id", String(36), ForeignKey("ledger_events.event_id"), nullable=False),
    Column("service", String(32), nullable=False),
    Column("description", Text, nullable=False),
    Column("amount", Money, nullable=False),
    Column("period", String(7), nullable=False),
    Column("basis", String(16), nullable=False),
    Column("recorded_by", String(200), nullable=False),
    Column("apportioned", Integer, nullable=False, default=0),  # 1 once its shares are posted
)

# Double entry: each source's debits (tenants' receivables) equal its credits (service income).
postings = Table(
    "ledger_postings", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
    Column("source", String(16), nullable=False),  # charge | reversal | shared_cost
    Column("source_id", String(36), nullable=False),  # charge id or cost id
    Column("account", String(64), nullable=False),  # receivable:<tenant> | income:<service>
    Column("tenant", String(32)),
    Column("service", String(32), nullable=False),
    Column("debit", Money, nullable=False),
    Column("credit", Money, nullable=False),
    Column("period", String(7), nullable=False),  # the statement it appears on
    Column("original_period", String(7), nullable=False),  # the month the cost belongs to
    Column("basis", String(16)),
    Column("exact_share", String(40)),  # the unrounded share, to show the rounding
    Column("posted_at", DateTime(timezone=True), nullable=False),
    Index("ix_ledger_postings_period_tenant", "period", "tenant"),
    Index("ix_ledger_postings_original", "original_period", "service"),
)

periods = Table(
    "ledger_periods", metadata,
    Column("period", String(7), primary_key=True),
    Column("status", String(8), nullable=False),  # open | closed
    Column("closed_at", DateTime(timezone=True)),
    Column("closed_by", String(200)),
)

# One row. Every ledger write updates it first, which serialises writers (a row lock in
# PostgreSQL, the write lock in SQLite): a charge cannot slip into a period while it closes.
control = Table(
    "ledger_control", metadata,
    Column("id", Integer, primary_key=True),
    Column("statement_sequence", Integer, nullable=False),
    Column("writes", Integer, nullable=False),
)

statements = Table(
    "ledger_statements", metadata,
    Column("number", String(32), primary_key=True),
    Column("sequence", Integer, nullable=False, unique=True),
    Column("tenant", String(32), nullable=False),
    Column("period", String(7), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("total", Money, nullable=False),
    Column("content_sha256", String(64), nullable=False),
    Column("body", Text, nullable=False),  # the canonical JSON
    UniqueConstraint("tenant", "period", name="uq_ledger_statement_tenant_period"),
)

# Idempotency-Keys of finance commands (shared costs), with the event each one stands for.
idempotency_keys = idempotency.table(metadata, "finance_idempotency")
