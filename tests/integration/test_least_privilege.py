"""The application role in PostgreSQL: migrated by the owner, it reads and appends money and history,
updates working state only, and cannot truncate, alter, drop, lift a guard or reopen a closed
period; row-level security shows a partner's transaction its own tenant's rows, filter or none."""

import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from services.cli.migrate import migrate_all
from services.finance.ledger.book import Ledger
from services.finance.ledger.closing import MonthEnd
from services.finance.ledger.signing import Signer
from shared.db import as_tenant, engine
from shared.privileges import GRANTS
from shared.settings import Settings
from tests.conftest import app_url, fresh_database
from tests.integration.ledger_databases import REGISTRY
from tests.integration.test_ledger import charge
from tests.integration.test_ledger_disputes import accepted, raised

TENANT_TABLES = sorted(table for table, grant in GRANTS.items() if grant.wall)


@pytest.fixture(scope="module")
def databases():
    """(owner, application) engines on a database migrated by the owner, with a closed period and
    rows of two tenants."""
    with fresh_database() as owner_url:
        settings = Settings(_env_file=None, database_url=app_url(owner_url), database_owner_url=owner_url)
        migrate_all(settings)
        owner, app = engine(owner_url), engine(settings.database_url)
        try:
            two_tenants(app)
            yield owner, app
        finally:
            owner.dispose()
            app.dispose()


def two_tenants(app) -> None:
    """As the application: charges of the council and the CCG, October closed, and a request of each."""
    ledger, october = Ledger(app, REGISTRY), {}
    for tenant in ("council", "ccg"):
        october[tenant] = charge(tenant, "850.00", period="2026-10")
        ledger.apply(october[tenant])
        ledger.apply(charge(tenant, "45.00", period="2026-11"))
    for statement in MonthEnd(app, REGISTRY, Signer.generated()).close("2026-10", "Finance officer"):
        if statement["tenant"]["code"] not in october:
            continue
        dispute = raised(statement["tenant"]["code"], statement["statement_number"],
                         october[statement["tenant"]["code"]].data["charge_id"])
        ledger.apply(dispute)
        ledger.apply(accepted(dispute, "10.00"))
    with app.begin() as c:
        for tenant in ("council", "ccg"):
            request_id = str(uuid.uuid4())
            c.execute(text("INSERT INTO gateway_request_views (request_id, tenant, service, status, submitted_at, "
                           "version, sla_breached, snapshot) VALUES (:r, :t, 'it', 'submitted', now(), 1, false, "
                           "'{}')"), {"r": request_id, "t": tenant})
            c.execute(text("INSERT INTO gateway_request_history (event_id, request_id, at, outcome, action, actor, "
                           "status, version) VALUES (:e, :r, now(), 'applied', 'submit', 'x', 'submitted', 1)"),
                      {"e": str(uuid.uuid4()), "r": request_id})
            c.execute(text("INSERT INTO worker_state (service, key, tenant, state) VALUES ('it', :r, :t, '{}')"),
                      {"r": request_id, "t": tenant})
            c.execute(text("INSERT INTO gateway_commands (command_id, request_id, tenant, service, request_type, action, "
                           "actor, requested_at, state) VALUES (:id, :r, :t, 'it', 'laptop', 'submit', 'x', now(), "
                           "'pending')"), {"id": str(uuid.uuid4()), "r": request_id, "t": tenant})
            c.execute(text("INSERT INTO ledger_commands (command_id, kind, subject, tenant, requested_by, requested_at, "
                           "body) VALUES (:id, 'correction', :r, :t, 'x', now(), '{}')"),
                      {"id": str(uuid.uuid4()), "r": request_id, "t": tenant})
            c.execute(text("INSERT INTO audit_log (at, service, actor, tenant, action, outcome, status) VALUES "
                           "(now(), 'gateway', 'x', :t, 'POST /v1/requests', 'accepted', 202)"), {"t": tenant})
            c.execute(text("INSERT INTO ledger_refusals (event_id, event_type, content_sha256, tenant, subject, code, "
                           "reason, detail, refusal_id, refused_at) VALUES (:id, 'x', 'x', :t, :r, 'x', 'x', '{}', :id, now())"),
                      {"id": str(uuid.uuid4()), "r": request_id, "t": tenant})


FORBIDDEN = [
    "TRUNCATE ledger_postings",
    "TRUNCATE ledger_statements CASCADE",
    "DELETE FROM ledger_postings",
    "DELETE FROM ledger_charges",
    "DELETE FROM ledger_shared_costs",
    "UPDATE ledger_postings SET debit = 0",
    "UPDATE ledger_charges SET amount = 1",
    "UPDATE ledger_statements SET total = 1",
    "UPDATE ledger_shared_costs SET amount = 1",
    "UPDATE ledger_periods SET status = 'open' WHERE period = '2026-10'",
    "DELETE FROM ledger_periods WHERE period = '2026-10'",
    "UPDATE ledger_control SET statement_sequence = 0",
    "UPDATE ledger_dispute_answers SET credit = 1000",
    "DELETE FROM ledger_disputes",
    "ALTER TABLE ledger_postings ADD COLUMN x int",
    "ALTER TABLE ledger_statements DISABLE TRIGGER ledger_statements_immutable",
    "ALTER TABLE ledger_statements DISABLE TRIGGER ALL",
    "DROP TRIGGER ledger_postings_immutable ON ledger_postings",
    "DROP TRIGGER hps_period_forward_only ON ledger_periods",
    "ALTER TABLE ledger_postings DISABLE ROW LEVEL SECURITY",
    "DROP POLICY tenant_wall ON ledger_postings",
    "DROP TABLE ledger_postings",
    "DROP TABLE gateway_request_views",
    "CREATE TABLE mine (x int)",
    "DELETE FROM gateway_request_views",
    "DELETE FROM consumer_positions",
    "UPDATE ledger_alembic_version SET version_num = '0001'",
    "UPDATE audit_log SET outcome = 'accepted'",
    "DELETE FROM audit_log",
    "TRUNCATE audit_log",
]


@pytest.mark.parametrize("statement", FORBIDDEN)
def test_the_application_role_cannot(databases, statement):
    _, app = databases
    with pytest.raises(DBAPIError) as refused, app.begin() as c:
        c.execute(text(statement))
    assert any(word in str(refused.value) for word in ("permission denied", "must be owner", "cannot be reopened",
                                                       "only grows")), str(refused.value)


def test_the_application_role_does_its_work(databases):
    owner, app = databases
    with app.begin() as c:
        c.execute(text("UPDATE ledger_periods SET status = 'closing' WHERE period = '2026-11'"))  # open: may move
        c.execute(text("UPDATE consumer_positions SET next_offset = next_offset WHERE false"))
        c.execute(text("UPDATE gateway_request_views SET status = 'accepted' WHERE tenant = 'council'"))
    # The owner of the tables is not the application.
    with owner.connect() as c:
        owners = set(c.execute(text("SELECT tableowner FROM pg_tables WHERE schemaname = 'public'")).scalars())
    assert owners == {"hps"}


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_a_partners_query_without_its_filter_sees_its_own_rows_only(databases, table):
    _, app = databases
    with app.begin() as c:
        everyone = c.execute(text(f"SELECT count(*) FROM {table}")).scalar()
        as_tenant(c, "council")
        rows = c.execute(text(f"SELECT * FROM {table}")).mappings().all()  # no WHERE: the wall filters
    assert everyone > len(rows) > 0, (table, everyone, len(rows))
    if "tenant" in rows[0]:
        assert {r["tenant"] for r in rows} == {"council"}


def test_a_connection_that_names_no_tenant_sees_nothing(databases):
    owner, _ = databases
    bare = create_engine(app_url(owner.url.render_as_string(hide_password=False)))  # without the '*' of shared/db.py
    try:
        with bare.connect() as c:
            assert all(c.execute(text(f"SELECT count(*) FROM {t}")).scalar() == 0 for t in TENANT_TABLES)
    finally:
        bare.dispose()
