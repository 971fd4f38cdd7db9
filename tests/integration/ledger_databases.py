"""The ledger under test, and the two databases every ledger contract runs on: a contract is a
`LedgerFixtures`, and each test class mixes one database into it."""

import pytest
from sqlalchemy import text

from services.finance.ledger.book import Ledger
from services.finance.ledger.closing import MonthEnd
from services.finance.ledger.schema import upgrade
from services.finance.ledger.signing import Signer
from shared.db import engine as make_engine
from shared.tenants import Registry

REGISTRY = Registry.load()


class OnSQLite:
    @pytest.fixture
    def db(self, tmp_path):
        engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
        yield engine
        engine.dispose()


class OnPostgres:
    @pytest.fixture
    def db(self, postgres_url):
        engine = make_engine(postgres_url)
        with engine.begin() as c:  # each test on an empty schema of the session's database
            c.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        yield engine
        engine.dispose()


class LedgerFixtures:
    @pytest.fixture
    def ledger(self, db):
        upgrade(db)
        return Ledger(db, REGISTRY)

    @pytest.fixture
    def month_end(self, db, ledger):
        return MonthEnd(db, REGISTRY, Signer.generated())
