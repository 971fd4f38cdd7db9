"""The ledger's tables. Created and changed only by the Alembic migrations beside this file."""

from sqlalchemy import (
    Boolean,
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
    false,
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
    # A correction whose amount is not quantity × unit price: finance set it, and the statement says so.
    Column("amount_set_by_hand", Boolean, nullable=False, default=False, server_default=false()),
    Index("ix_ledger_charges_corrects", "corrects"),
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
    Column("reason", Text),  # why: given for a credit or refund (a negative amount)
    Column("replaces", String(36)),  # the cost it re-records on another basis
)

# Double entry: each source's debits (tenants' receivables) equal its credits (service income).
postings = Table(
    "ledger_postings", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
    # charge | reversal | shared_cost | withdrawal | credit_note | reapportioned (a credit borne by the others)
    Column("source", String(16), nullable=False),
    Column("source_id", String(36), nullable=False),  # charge id, cost id, or a credit note's dispute id
    Column("account", String(64), nullable=False),  # receivable:<tenant> | income:<service>
    Column("tenant", String(32)),  # who is billed
    Column("for_tenant", String(32)),  # whom the entry was for: a predecessor its successor answers for
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
    # Its signature (services/finance/ledger/signing.py); none on statements issued before signing.
    Column("body_sha256", String(64)),
    Column("signature", String(128)),
    Column("previous_signature", String(128)),
    Column("key_id", String(32)),
    UniqueConstraint("tenant", "period", name="uq_ledger_statement_tenant_period"),
)

# A shared cost taken back: its shares reversed (never updated), or, with `rebasis`, recorded again
# on another basis under `replacement_id`, in the same transaction.
withdrawals = Table(
    "ledger_withdrawals", metadata,
    Column("cost_id", String(36), ForeignKey("ledger_shared_costs.cost_id"), primary_key=True),
    Column("event_id", String(36), ForeignKey("ledger_events.event_id"), nullable=False),
    Column("reason", Text, nullable=False),
    Column("withdrawn_by", String(200), nullable=False),
    Column("rebasis", String(16)),
    Column("replacement_id", String(36)),
    Column("reversed_on", String(7)),  # the statement its shares' reversals are on; null if never apportioned
    Column("withdrawn_at", DateTime(timezone=True), nullable=False),
)

# A line of an issued statement a partner disputes (a charge or a share of a shared cost, by its id),
# and finance's answer: accepted with a credit note on the next open statement, or rejected. Both
# are facts, never changed: an issued statement is never changed either.
disputes = Table(
    "ledger_disputes", metadata,
    Column("dispute_id", String(36), primary_key=True),
    Column("event_id", String(36), ForeignKey("ledger_events.event_id"), nullable=False),
    Column("tenant", String(32), nullable=False),
    Column("statement_number", String(32), nullable=False),
    Column("period", String(7), nullable=False),  # the disputed statement's
    Column("line_id", String(36), nullable=False),  # the charge or cost id of the line
    Column("line_source", String(16), nullable=False),  # charge | shared_cost
    Column("line_period", String(7), nullable=False),  # the month the line's charge or cost belongs to
    Column("line_for", String(32), nullable=False),  # whom the line was for (a predecessor its tenant answers for)
    Column("service", String(32), nullable=False),
    Column("amount", Money, nullable=False),  # the line's amount on the statement
    Column("description", Text, nullable=False),  # the line's
    Column("reason", Text, nullable=False),
    Column("raised_by", String(200), nullable=False),
    Column("raised_at", DateTime(timezone=True), nullable=False),
    Index("ix_ledger_disputes_line", "line_id"),
)

dispute_answers = Table(
    "ledger_dispute_answers", metadata,
    Column("dispute_id", String(36), ForeignKey("ledger_disputes.dispute_id"), primary_key=True),
    Column("event_id", String(36), ForeignKey("ledger_events.event_id"), nullable=False),
    Column("outcome", String(8), nullable=False),  # accepted | rejected
    Column("reason", Text, nullable=False),
    Column("credit", Money),  # accepted: the credit note's amount
    Column("credited_on", String(7)),  # accepted: the statement the credit note is on
    Column("reapportioned", Boolean, nullable=False, default=False),  # a shared cost's credit borne by the others
    Column("answered_by", String(200), nullable=False),
    Column("answered_at", DateTime(timezone=True), nullable=False),
)

# Every event the ledger would not post, with the reason: what the finance API shows as the
# command's outcome, and what the refusal event told (its id derived from the refused event's).
refusals = Table(
    "ledger_refusals", metadata,
    Column("event_id", String(36), primary_key=True),
    Column("event_type", String(100), nullable=False),
    Column("content_sha256", String(64), nullable=False),
    Column("tenant", String(32), nullable=False),
    Column("subject", String(200)),
    Column("code", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("detail", Text, nullable=False),  # JSON: what else the caller is told (the charge that corrected it)
    Column("refusal_id", String(36), nullable=False, unique=True),
    Column("refused_at", DateTime(timezone=True), nullable=False),
)

# Every command the finance API published: who asked, when, for what; its outcome is the ledger's
# (ledger_events: applied, ledger_refusals: refused, neither yet: pending).
commands = Table(
    "ledger_commands", metadata,
    Column("command_id", String(36), primary_key=True),  # the id of the event published
    Column("kind", String(16), nullable=False),  # shared_cost | correction | withdrawal | rebasis | dispute | answer
    Column("subject", String(36), nullable=False),  # the cost or charge it concerns
    Column("tenant", String(32), nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("body", Text, nullable=False),  # JSON: the event's data
    Index("ix_ledger_commands_subject", "subject", "kind"),
)

# Idempotency-Keys of finance commands, with the event each one stands for.
idempotency_keys = idempotency.table(metadata, "finance_idempotency")
