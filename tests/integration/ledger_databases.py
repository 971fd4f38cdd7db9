"""The two databases every ledger contract runs on: mix one into a test class of the contract."""

import pytest
from sqlalchemy import text

from shared.db import engine as make_engine


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
