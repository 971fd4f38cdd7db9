"""SQLAlchemy engines: SQLite embedded by default, PostgreSQL through HPS_DATABASE_URL."""

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, MetaData, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError


def engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        created = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(created, "connect")
        def _sqlite_pragmas(connection, _):
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()
            # pysqlite's own transaction handling breaks SAVEPOINT; let SQLAlchemy emit BEGIN itself.
            connection.isolation_level = None

        @event.listens_for(created, "begin")
        def _begin(connection):
            connection.exec_driver_sql("BEGIN")

        return created
    created = create_engine(url, pool_pre_ping=True)

    @event.listens_for(created, "connect")
    def _every_tenant(connection, _):
        # The services' own work sees every tenant's rows; a partner's reads narrow it (as_tenant).
        with connection.cursor() as cursor:
            cursor.execute("SET app.tenant = '*'")
        connection.commit()

    return created


def as_tenant(c: Connection, tenant: str | None) -> None:
    """The rest of this transaction sees `tenant`'s rows only (PostgreSQL's row-level security,
    shared/privileges.py), whatever its queries forget to filter; None leaves it as it is."""
    if tenant is not None and c.dialect.name == "postgresql":
        c.execute(text("SELECT set_config('app.tenant', :tenant, true)"), {"tenant": tenant})


def create_tables(metadata: MetaData, engine: Engine) -> None:
    """Create what is missing of `metadata`'s tables. Instances starting together may race to create
    one; the loser finds it made by the winner on the second try."""
    try:
        metadata.create_all(engine)
    except DBAPIError:
        metadata.create_all(engine)


def _insert(c: Connection, table: Table):
    return (postgresql.insert if c.dialect.name == "postgresql" else sqlite.insert)(table)


def upsert_many(c: Connection, table: Table, rows: list[dict], key: Sequence[str], only_if=None,
                changing: Sequence[str] | None = None) -> None:
    """Insert each row, or update the one with its `key` (a primary or unique key): one statement,
    executed for all rows together. An existing row takes the `changing` columns (default: all but
    the key), and only where `only_if(table, excluded)` holds."""
    if not rows:
        return
    statement = _insert(c, table)
    changes = {name: statement.excluded[name] for name in (changing or rows[0]) if name not in key}
    where = only_if(table, statement.excluded) if only_if else None
    c.execute(statement.on_conflict_do_update(index_elements=list(key), set_=changes, where=where), rows)


def insert_new(c: Connection, table: Table, rows: list[dict], key: Sequence[str]) -> None:
    """Insert the rows whose `key` is not there yet; the others are left as they are."""
    if rows:
        c.execute(_insert(c, table).on_conflict_do_nothing(index_elements=list(key)), rows)


def inserted(c: Connection, table: Table, row: dict, key: Sequence[str]) -> bool:
    """Insert `row` unless one with its `key` is there; whether it was inserted (the driver's row
    count does not say, for an insert that may do nothing)."""
    statement = _insert(c, table).values(row).on_conflict_do_nothing(index_elements=list(key))
    return c.execute(statement.returning(table.c[key[0]])).first() is not None


def upsert(c: Connection, table: Table, key: dict, values: dict) -> None:
    """Update the row with `key`, or insert it."""
    upsert_many(c, table, [{**key, **values}], list(key))


class GroupCommit:
    """Rows written by many concurrent callers in one transaction: each caller awaits the commit of
    the group it joined. The write runs in a thread, so the event loop serves other callers while
    the database commits; rows that arrive meanwhile make up the next group."""

    def __init__(self, store: Callable[[list[dict]], None]):
        self.store = store
        self.waiting: list[tuple[dict, asyncio.Future]] = []
        self.writing: asyncio.Task | None = None

    async def add(self, row: dict) -> None:
        done = asyncio.get_running_loop().create_future()
        self.waiting.append((row, done))
        if self.writing is None or self.writing.done():
            self.writing = asyncio.create_task(self._drain())
        await done

    async def _drain(self) -> None:
        while self.waiting:
            group, self.waiting = self.waiting, []
            try:
                await asyncio.to_thread(self.store, [row for row, _ in group])
            except Exception as exc:  # each caller answers for it (a 503 or a 500, as if it wrote alone)
                for _, done in group:
                    done.done() or done.set_exception(exc)
            else:
                for _, done in group:
                    done.done() or done.set_result(None)


def aware(at: datetime) -> datetime:
    """A time as stored: SQLite gives back the UTC time it was given without its zone."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)
