"""SQLAlchemy engines: SQLite embedded by default, PostgreSQL through HPS_DATABASE_URL."""

from sqlalchemy import Connection, Engine, Table, and_, create_engine, event


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
    return create_engine(url, pool_pre_ping=True)


def upsert(c: Connection, table: Table, key: dict, values: dict) -> None:
    """Update the row with `key`, or insert it: portable across SQLite and PostgreSQL."""
    where = and_(*(table.c[name] == value for name, value in key.items()))
    if c.execute(table.update().where(where).values(**values)).rowcount == 0:
        c.execute(table.insert().values(**key, **values))
