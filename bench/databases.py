"""Databases of this run on the machine's PostgreSQL (deploy/postgres-local.sh starts it, installing
it if need be): each new and empty, all dropped at the end."""

import subprocess
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

SCRIPT = Path(__file__).resolve().parents[1] / "deploy" / "postgres-local.sh"


class Databases:
    def __init__(self) -> None:
        self.names: list[str] = []
        self._admin_url: str | None = None

    def new(self) -> str:
        """The URL of a new, empty database."""
        if self._admin_url is None:
            self._admin_url = subprocess.run(["bash", str(SCRIPT)], check=True, capture_output=True,
                                             text=True).stdout.strip().splitlines()[-1]
        name = f"hps_bench_{uuid.uuid4().hex[:8]}"
        self._execute(f'CREATE DATABASE "{name}"')
        self.names.append(name)
        return make_url(self._admin_url).set(database=name).render_as_string(hide_password=False)

    def version(self) -> str:
        return self._execute("SHOW server_version") if self._admin_url else "not used in this run"

    def drop_all(self) -> None:
        while self.names:
            self._execute(f'DROP DATABASE IF EXISTS "{self.names.pop()}" WITH (FORCE)')

    def _execute(self, statement: str) -> str | None:
        server = create_engine(self._admin_url, isolation_level="AUTOCOMMIT")
        try:
            with server.connect() as c:
                result = c.execute(text(statement))
                return result.scalar() if result.returns_rows else None
        finally:
            server.dispose()
