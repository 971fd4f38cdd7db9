"""SQLAlchemy engines: SQLite embedded by default, PostgreSQL through HPS_DATABASE_URL."""

from sqlalchemy import Engine, create_engine, event


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
