"""The gateway's own tables: the request read model fed by the services' events, each request's
history, the outcome of every command the gateway accepted, and Idempotency-Keys.

All but the keys are projections of the events topics: they can be dropped and rebuilt from them,
so they are created from metadata rather than migrated.
"""

from sqlalchemy import Boolean, Column, DateTime, Engine, Index, Integer, MetaData, String, Table, Text

from shared import idempotency
from shared.db import create_tables

metadata = MetaData()

request_views = Table(
    "gateway_request_views", metadata,
    Column("request_id", String(36), primary_key=True),
    Column("tenant", String(32), nullable=False),
    Column("service", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),
    Column("sla_breached", Boolean, nullable=False),
    Column("snapshot", Text, nullable=False),
    Column("refusal", Text),
    Index("ix_gateway_views_scope", "tenant", "service", "status", "submitted_at"),
)

# Every change of a request and every command refused on it, under the event that told of it.
history = Table(
    "gateway_request_history", metadata,
    Column("event_id", String(36), primary_key=True),
    Column("request_id", String(36), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("outcome", String(16), nullable=False),  # applied | refused
    Column("action", String(32), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("status", String(32)),  # after the change; when refused, the status that refused it
    Column("version", Integer),
    Column("reason", Text),
    Column("command_id", String(36)),
    Index("ix_gateway_history_request", "request_id", "at"),
)

# Each command the gateway accepted (a submission, a transition, a tenant's payroll run), pending
# until its owner decides.
commands = Table(
    "gateway_commands", metadata,
    Column("command_id", String(36), primary_key=True),
    Column("request_id", String(64), nullable=False),  # or the payroll run's key
    Column("tenant", String(32), nullable=False),
    Column("service", String(32), nullable=False),
    Column("request_type", String(64)),
    Column("action", String(32), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("requested_at", DateTime(timezone=True)),
    Column("state", String(16), nullable=False),  # pending | applied | refused
    Column("decided_at", DateTime(timezone=True)),
    Column("error", Text),  # the owner's refusal, as the API answers it (JSON)
    Column("result", Text),  # what the owner reported doing, where there is no request to show (JSON)
    Index("ix_gateway_commands_request", "request_id", "action"),
)

idempotency_keys = idempotency.table(metadata, "gateway_idempotency")


def create(engine: Engine) -> None:
    create_tables(metadata, engine)
