"""What the application role may do in PostgreSQL, table by table, and the walls around it.

Migrations run as the owner of the tables (HPS_DATABASE_OWNER_URL); the services connect as the
application role (HPS_DATABASE_URL), which this module grants exactly what the code needs: money
and history are read and appended, never rewritten; only working state is updated; nothing is
deleted. Not owning the tables, the role cannot TRUNCATE, ALTER or DROP them, nor touch their
triggers. Where a column grant is not enough, a trigger owned by the owner holds the line: a
closed period stays closed, an apportioned cost stays apportioned, the statement sequence only
grows.

Row-level security is the second wall between tenants: on each tenant's table a row is visible
only when the transaction's `app.tenant` is its tenant, or `*` (the services' own work, set for
every connection at connect: shared/db.py). A partner's reads run under `as_tenant`; a query
that forgot its tenant filter still sees that tenant's rows only; unset, nothing."""

from dataclasses import dataclass

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

READ_APPEND = ("SELECT", "INSERT")


@dataclass(frozen=True)
class Grant:
    privileges: tuple[str, ...] = READ_APPEND
    updates: tuple[str, ...] = ()  # the columns it may change; ("*",) for working state
    wall: str | None = None  # the USING clause of its row-level security, if it holds a tenant's rows


TENANT = "tenant = (SELECT current_setting('app.tenant', true))"
OF_VISIBLE_REQUEST = "request_id IN (SELECT request_id FROM gateway_request_views)"  # under that table's wall

GRANTS: dict[str, Grant] = {
    # Money and history: read and appended only.
    "ledger_postings": Grant(wall=TENANT),
    "ledger_charges": Grant(wall=TENANT),
    "ledger_statements": Grant(wall=TENANT),
    "ledger_refusals": Grant(wall=TENANT),
    "ledger_commands": Grant(wall=TENANT),
    "ledger_events": Grant(),
    "ledger_withdrawals": Grant(),
    "ledger_disputes": Grant(wall=TENANT),
    "ledger_dispute_answers": Grant(wall="dispute_id IN (SELECT dispute_id FROM ledger_disputes)"),  # under its wall
    "ops_replays": Grant(),
    "audit_log": Grant(wall=TENANT),
    "ledger_shared_costs": Grant(updates=("apportioned",)),  # forward only: see GUARDS
    "ledger_periods": Grant(updates=("status", "closed_at", "closed_by")),  # forward only
    "ledger_control": Grant(("SELECT",), updates=("statement_sequence", "writes")),
    "ledger_alembic_version": Grant(("SELECT",)),
    # Working state: the read model, the workers' state, consumed positions, idempotency keys.
    "gateway_request_views": Grant(updates=("*",), wall=TENANT),
    "gateway_request_history": Grant(wall=OF_VISIBLE_REQUEST),
    "gateway_commands": Grant(updates=("*",), wall=TENANT),
    "gateway_idempotency": Grant(updates=("state",)),
    "finance_idempotency": Grant(updates=("state",)),
    "worker_state": Grant(updates=("*",), wall=TENANT),
    "consumer_positions": Grant(updates=("next_offset",)),
}

# Triggers (owned by the owner) for what a column grant cannot say: function name -> (table, body).
GUARDS = {
    "hps_period_forward_only": ("ledger_periods", """
        IF OLD.status = 'closed' THEN
            RAISE EXCEPTION 'period % is closed: its statements are issued and it cannot be reopened or changed',
                OLD.period;
        END IF;"""),
    "hps_apportioned_stays": ("ledger_shared_costs", """
        IF OLD.apportioned <> 0 AND NEW.apportioned = 0 THEN
            RAISE EXCEPTION 'shared cost % is apportioned: its shares are posted', OLD.cost_id;
        END IF;"""),
    "hps_sequence_grows": ("ledger_control", """
        IF NEW.statement_sequence < OLD.statement_sequence THEN
            RAISE EXCEPTION 'the statement sequence only grows (% to %)', OLD.statement_sequence,
                NEW.statement_sequence;
        END IF;"""),
}


def application_role(database_url: str) -> str:
    return make_url(database_url).username


def apply(c: Connection, role: str) -> None:
    """Grant `role` what GRANTS says and nothing else, raise the walls and guards; run as the owner,
    after every migration (it is idempotent)."""
    tables = set(c.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars())
    if unknown := tables - set(GRANTS):
        raise RuntimeError(f"no privileges declared for {sorted(unknown)} in shared/privileges.py")
    quoted = _quoted(c, role)
    c.execute(text("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
    c.execute(text(f"GRANT USAGE ON SCHEMA public TO {quoted}"))
    c.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}"))
    for table in sorted(tables):
        grant = GRANTS[table]
        c.execute(text(f"REVOKE ALL ON {table} FROM {quoted}"))
        c.execute(text(f"GRANT {', '.join(grant.privileges)} ON {table} TO {quoted}"))
        if grant.updates:
            columns = "" if grant.updates == ("*",) else f" ({', '.join(grant.updates)})"
            c.execute(text(f"GRANT UPDATE{columns} ON {table} TO {quoted}"))
        c.execute(text(f"DROP POLICY IF EXISTS tenant_wall ON {table}"))
        if grant.wall:
            everyone = "(SELECT current_setting('app.tenant', true)) = '*'"
            c.execute(text(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"))
            c.execute(text(f"CREATE POLICY tenant_wall ON {table} TO {quoted} "
                           f"USING ({everyone} OR {grant.wall}) WITH CHECK ({everyone} OR {grant.wall})"))
    for name, (table, body) in GUARDS.items():
        if table in tables:
            c.execute(text(f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                           f"{body} RETURN NEW; END $$"))
            c.execute(text(f"DROP TRIGGER IF EXISTS {name} ON {table}"))
            c.execute(text(f"CREATE TRIGGER {name} BEFORE UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()"))


def _quoted(c: Connection, role: str) -> str:
    return c.execute(text("SELECT quote_ident(:role)"), {"role": role}).scalar()
