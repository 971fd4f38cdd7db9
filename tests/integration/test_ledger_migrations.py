"""A ledger written before command outcomes, withdrawals and credits existed, brought to the current
schema on SQLite and on PostgreSQL: what it held still adds up, and can be corrected and withdrawn."""

from decimal import Decimal
from importlib import resources

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from services.finance.ledger.book import Ledger
from services.finance.ledger.closing import MonthEnd
from services.finance.ledger.schema import upgrade
from services.finance.ledger.signing import Signer
from tests.integration.ledger_databases import OnPostgres, OnSQLite
from tests.integration.test_ledger import charge, codec, registry


def migrate(engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(resources.files("services.finance.ledger").joinpath("migrations")))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


C1, S1 = "6f1c0000-0000-4000-8000-000000000001", "6f1c0000-0000-4000-8000-000000000002"
POSTED_BEFORE = [  # as revision 0002 held them: a September charge, and a shared cost apportioned at its close
    "INSERT INTO ledger_events VALUES ('e1', 'uk.hps.finance.charge.recorded', 'h1', '2026-10-01 00:00:00+00')",
    "INSERT INTO ledger_events VALUES ('e2', 'uk.hps.finance.shared-cost.recorded', 'h2', '2026-10-01 00:00:00+00')",
    f"INSERT INTO ledger_charges VALUES ('{C1}', 'e1', 'council', 'council', 'it', 'incident', 'request', 2, 55, 110,"
    " 'CC-1', '2026-09', NULL, 'Printer', NULL)",
    f"INSERT INTO ledger_shared_costs VALUES ('{S1}', 'e2', 'it', 'WAN', 100, '2026-09', 'fixed', 'finance', 1)",
    *(f"INSERT INTO ledger_postings (event_id, source, source_id, account, tenant, service, debit, credit, period,"
      f" original_period, basis, exact_share, posted_at) VALUES {row}" for row in (
        f"('e1', 'charge', '{C1}', 'receivable:council', 'council', 'it', 110, 0, '2026-09', '2026-09', NULL, NULL,"
        " '2026-10-01 00:00:00+00')",
        f"('e1', 'charge', '{C1}', 'income:it', 'council', 'it', 0, 110, '2026-09', '2026-09', NULL, NULL,"
        " '2026-10-01 00:00:00+00')",
        *(f"('e2', 'shared_cost', '{S1}', '{account}', '{tenant}', 'it', {debit}, {credit}, '2026-09', '2026-09',"
          f" 'fixed', {exact}, '2026-10-01 00:00:00+00')"
          for tenant, share in (("ccg", 20), ("council", 60), ("hospital", 20))
          for account, debit, credit, exact in ((f"receivable:{tenant}", share, 0, f"'{share}.000000'"),
                                                ("income:it", 0, share, "NULL"))))),
    "INSERT INTO ledger_periods VALUES ('2026-09', 'closed', '2026-10-01 00:00:00+00', 'finance')",
]


class MigrationContract:
    def test_a_ledger_from_before_is_carried_over_and_goes_on(self, db):
        migrate(db, "0002")
        with db.begin() as c:
            for statement in POSTED_BEFORE:
                c.execute(text(statement))
        upgrade(db)
        ledger, month_end = Ledger(db, registry), MonthEnd(db, registry, Signer.generated())
        assert all(r.difference == 0 for r in month_end.reconcile("2026-09").services)
        # The old charge is corrected and the old cost withdrawn: both land on October's statement.
        fix = charge("council", "100.00", period="2026-09", kind="correction", corrects=C1)
        taken_back = codec.build("uk.hps.finance.shared-cost.withdrawn", "/hps/finance", "hps", {
            "cost_id": S1, "service": "it", "reason": "Billed twice", "withdrawn_by": "finance"})
        assert ledger.apply_all([fix, taken_back]) == [True, True]
        october = {s["tenant"]["code"]: s for s in month_end.close("2026-10", "finance")}
        council = october["council"]
        assert sorted((x["type"], x["amount"]) for x in council["prior_period_adjustments"]) == \
            [("charge", "100.00"), ("reversal", "-110.00"), ("withdrawal", "-60.00")]
        assert [x["on_behalf_of"] for x in council["prior_period_adjustments"]] == [None, None, None]
        assert Decimal(october["ccg"]["totals"]["total"]) == Decimal("-20.00")
        assert all(r.difference == 0 for r in month_end.reconcile("2026-09").services)


class TestMigrationOnSQLite(OnSQLite, MigrationContract):
    pass


class TestMigrationOnPostgres(OnPostgres, MigrationContract):
    pass
