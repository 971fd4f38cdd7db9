"""Ledger tables whose rows are facts: the database itself refuses to change or remove them. Used by
the migrations that create such tables (PostgreSQL's `ledger_refuse_change()` is made by 0001)."""

from alembic import op


def guard(*tables: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in tables:
            op.execute(f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()")
        return
    for table in tables:
        for change in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {table}_no_{change.lower()} BEFORE {change} ON {table} BEGIN "
                       f"SELECT RAISE(ABORT, '{table} is immutable: corrections are new entries'); END")
