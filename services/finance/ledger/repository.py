"""Every query of the ledger, in one place: the write side's, the month end's, the statements' and
the finance API's. The rules (book, batch, entries, closing, statements) call these and hold no SQL.

Every read of one tenant's rows goes through `scoped`, so no query filters by tenant by hand.
"""

import json
import zlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from operator import itemgetter

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Table,
    any_,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

from services.finance.ledger import tables as t
from services.finance.ledger.statements import CREDIT_SOURCES
from shared.contracts.names import CHARGE_RECORDED
from shared.db import as_tenant, upsert

p, ch, sc, w, r, cmd = (t.postings.c, t.charges.c, t.shared_costs.c, t.withdrawals.c, t.refusals.c, t.commands.c)
d, da, st = t.disputes.c, t.dispute_answers.c, t.statements.c
RECEIVABLE = p.account.like("receivable:%")
DISPUTABLE = ("charge", "shared_cost")  # the sources of a line a partner may dispute
DISPUTE = (*t.disputes.c, da.outcome, da.reason.label("answer_reason"), da.credit, da.credited_on, da.reapportioned,
           da.answered_by, da.answered_at)


def statement_postings(period: str):
    """The receivable postings on `period`'s statements, each with its charge or shared cost, as
    `statements.entry` takes them."""
    return (select(t.postings, ch.charge_id, ch.request_id, ch.request_type, ch.kind, ch.cost_centre,
                   ch.description.label("charge_description"), ch.quantity, ch.unit_price, ch.amount_set_by_hand,
                   sc.cost_id, sc.description.label("cost_description"), sc.amount.label("cost_total"),
                   sc.reason.label("cost_reason"), sc.replaces, d.statement_number.label("disputed_statement"),
                   d.line_id.label("disputed_line"), d.description.label("disputed_description"),
                   da.reason.label("credit_reason"))
            .select_from(t.postings.outerjoin(t.charges, p.source_id == ch.charge_id)
                         .outerjoin(t.shared_costs, p.source_id == sc.cost_id)
                         .outerjoin(t.disputes, p.source_id == d.dispute_id)
                         .outerjoin(t.dispute_answers, d.dispute_id == da.dispute_id))
            .where(p.period == period, RECEIVABLE))


def scoped(query, tenant_column, tenant: str | None):
    """Every tenant-filtered read goes through here: one tenant's rows (a partner sees only its own),
    or, with no tenant, every tenant's (finance and ops)."""
    return query if tenant is None else query.where(tenant_column == tenant)


class Books:
    """The ledger's tables, over one connection and whatever transaction it is in."""

    def __init__(self, c: Connection):
        self.c = c

    @classmethod
    def reading(cls, engine: Engine, tenant: str | None = None):
        """`with Books.reading(engine) as books:` for reads outside the write side's transaction; with
        `tenant`, reads that see that tenant's rows only (row-level security)."""
        return _Reading(engine, tenant)

    def savepoint(self):
        return self.c.begin_nested()

    # The write side.

    def lock(self) -> None:
        """Serialise ledger writers; see tables.control."""
        self.c.execute(update(t.control).where(t.control.c.id == 1).values(writes=t.control.c.writes + 1))

    def closed_periods(self, since: str) -> set[str]:
        """The closed periods from `since` on: where an entry for `since` cannot show any more."""
        return set(self.c.execute(select(t.periods.c.period).where(
            t.periods.c.period >= since, t.periods.c.status == "closed")).scalars())

    def is_closed(self, period: str) -> bool:
        return self.period_status(period) == "closed"

    def period_status(self, period: str) -> str:
        return self.c.execute(select(t.periods.c.status).where(t.periods.c.period == period)).scalar() or "open"

    def known_events(self, ids: Sequence[str]) -> dict[str, str]:
        """Applied events among `ids`, with their content hash."""
        if not ids:
            return {}
        return dict(self.c.execute(select(t.events.c.event_id, t.events.c.content_sha256)
                                   .where(self._among(t.events.c.event_id, ids))).all())

    def refused_events(self, ids: Sequence[str]) -> dict[str, dict]:
        if not ids:
            return {}
        rows = self.c.execute(select(t.refusals).where(self._among(r.event_id, ids))).mappings().all()
        return {row["event_id"]: dict(row) for row in rows}

    def taken_charge_ids(self, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        return set(self.c.execute(select(ch.charge_id).where(self._among(ch.charge_id, ids))).scalars())

    def _among(self, column: Column, ids: Sequence[str]):
        """`column IN ids`, for event, charge or cost ids (UUIDs). On PostgreSQL `= ANY` of the ids sent as one
        text, split by the server: the statement is the same, and prepared once, whatever their count, and
        a batch's thousand ids cost the client one join instead of a value each."""
        if self.c.dialect.name == "postgresql":
            return column == any_(func.string_to_array(literal(",".join(ids)), ","))
        return column.in_(ids)

    def add_events(self, rows: list[dict]) -> None:
        self._add(t.events, rows)

    def add_charges(self, rows: list[dict]) -> None:
        self._add(t.charges, rows)

    def add_postings(self, rows: list[dict]) -> None:
        self._add(t.postings, rows)

    def add_refusals(self, rows: list[dict]) -> None:
        self._add(t.refusals, rows)

    def add_shared_cost(self, row: dict) -> None:
        self._add(t.shared_costs, [row])

    def add_withdrawal(self, row: dict) -> None:
        self._add(t.withdrawals, [row])

    def _add(self, table: Table, rows: list[dict]) -> None:
        if not rows:
            return
        if self.c.dialect.name == "postgresql":
            copy_rows(self.c, table, rows)
        else:  # parameters apart from the statement: it compiles once and is reused from the cache
            self.c.execute(insert(table), rows)

    def charge(self, charge_id: str) -> dict | None:
        row = self.c.execute(select(t.charges).where(ch.charge_id == charge_id)).mappings().first()
        return dict(row) if row else None

    def correction_of(self, charge_id: str) -> str | None:
        """The charge that corrected `charge_id`, if it was corrected."""
        return self.c.execute(select(ch.charge_id).where(ch.corrects == charge_id).limit(1)).scalar()

    def shared_cost(self, cost_id: str) -> dict | None:
        row = self.c.execute(select(t.shared_costs).where(sc.cost_id == cost_id)).mappings().first()
        return dict(row) if row else None

    def withdrawal(self, cost_id: str) -> dict | None:
        row = self.c.execute(select(t.withdrawals).where(w.cost_id == cost_id)).mappings().first()
        return dict(row) if row else None

    def mark_apportioned(self, cost_id: str) -> None:
        self.c.execute(update(t.shared_costs).where(sc.cost_id == cost_id).values(apportioned=1))

    def shares_posted(self, cost: dict) -> list[dict]:
        """The receivable side of each share posted for a cost (found through its period and service)."""
        rows = self.c.execute(select(p.debit, p.credit, p.exact_share, p.tenant, p.original_period,
                                     func.coalesce(p.for_tenant, p.tenant).label("for_tenant"))
                              .where(p.original_period == cost["period"], p.service == cost["service"],
                                     p.source == "shared_cost", p.source_id == cost["cost_id"], RECEIVABLE)
                              .order_by(p.id)).mappings().all()
        return [dict(row) for row in rows]

    def credits_of(self, cost_id: str) -> list[dict]:
        """The receivable side of the credit notes of a cost's accepted disputes, and of their shares
        apportioned back to the others: what withdrawing the cost reverses with its shares."""
        disputed = select(d.dispute_id).where(d.line_id == cost_id)
        rows = self.c.execute(select(p.debit, p.credit, p.exact_share, p.tenant, p.original_period,
                                     func.coalesce(p.for_tenant, p.tenant).label("for_tenant"))
                              .where(p.source.in_(CREDIT_SOURCES), p.source_id.in_(disputed), RECEIVABLE)
                              .order_by(p.id)).mappings().all()
        return [dict(row) for row in rows]

    def usage(self, service: str, period: str) -> dict[str, Decimal]:
        """Each tenant's direct charges net of reversals for `service` in `period`, by whom they were for."""
        whose = func.coalesce(p.for_tenant, p.tenant)
        rows = self.c.execute(select(whose, func.sum(p.debit - p.credit)).where(
            RECEIVABLE, p.service == service, p.original_period == period,
            p.source.in_(("charge", "reversal"))).group_by(whose)).all()
        return {tenant: Decimal(total) for tenant, total in rows}

    # The month end.

    def pending_costs(self, period: str) -> list[dict]:
        """The period's shared costs still to apportion: not apportioned, not withdrawn."""
        withdrawn = exists().where(w.cost_id == sc.cost_id)
        rows = self.c.execute(select(t.shared_costs).where(sc.period == period, sc.apportioned == 0, ~withdrawn)
                              .order_by(sc.service, sc.cost_id)).mappings().all()
        return [dict(row) for row in rows]

    def tenants_posted(self, period: str, tenant: str | None = None) -> set[str]:
        """Tenants with entries on `period`'s statements."""
        query = scoped(select(p.tenant).distinct().where(p.period == period, RECEIVABLE), p.tenant, tenant)
        return set(self.c.execute(query).scalars())

    def statement_lines(self, period: str, tenant: str) -> list[dict]:
        """The receivable postings on a tenant's statement for `period`, with their sources; one
        pass, joined: a month may hold a million lines, too many to look up by id."""
        query = scoped(statement_postings(period).order_by(p.id), p.tenant, tenant)
        return [dict(row) for row in self.c.execute(query).mappings()]

    def issue(self, period: str, statements: Iterable[tuple[int, dict, str]]) -> None:
        """Store each sealed statement under its sequence (with its canonical body)."""
        last = None
        for sequence, statement, body in statements:
            last = sequence
            self.c.execute(insert(t.statements).values(
                number=statement["statement_number"], sequence=sequence, tenant=statement["tenant"]["code"],
                period=period, issued_at=datetime.now(UTC), total=Decimal(statement["totals"]["total"]),
                content_sha256=statement["content_sha256"], body=body,
                **{k: statement[k] for k in ("body_sha256", "signature", "previous_signature", "key_id")}))
        if last is not None:
            self.c.execute(update(t.control).where(t.control.c.id == 1).values(statement_sequence=last))

    def close_period(self, period: str, closed_by: str) -> None:
        """Once, when its statements are issued: a closed period is never changed again."""
        upsert(self.c, t.periods, {"period": period},
               {"status": "closed", "closed_at": datetime.now(UTC), "closed_by": closed_by})

    def statement_sequence(self) -> int:
        return self.c.execute(select(t.control.c.statement_sequence).where(t.control.c.id == 1)).scalar()

    def recorded_charges(self, period: str) -> dict[str, Decimal]:
        """Per service, the period's charges that stand (not reversed)."""
        reversed_ids = select(p.source_id).where(p.original_period == period, p.source == "reversal")
        return self._by_service(select(ch.service, func.sum(ch.amount)).where(
            ch.period == period, ch.charge_id.not_in(reversed_ids)).group_by(ch.service))

    def recorded_costs(self, period: str) -> dict[str, Decimal]:
        """Per service, the period's shared costs that stand (not withdrawn)."""
        return self._by_service(select(sc.service, func.sum(sc.amount)).where(
            sc.period == period, ~exists().where(w.cost_id == sc.cost_id)).group_by(sc.service))

    def credited(self, period: str) -> dict[str, Decimal]:
        """Per service, the credit notes for lines of `period` that no other tenant bears and that stand
        (the line's cost not withdrawn): negative, what the recharge was lowered by."""
        withdrawn = exists().where(w.cost_id == d.line_id)
        return self._by_service(select(d.service, -func.sum(da.credit)).select_from(t.disputes.join(t.dispute_answers))
                                .where(d.line_period == period, da.outcome == "accepted", ~da.reapportioned,
                                       ~withdrawn).group_by(d.service))

    def recharged(self, period: str) -> dict[str, Decimal]:
        """Per service, what the tenants were billed for `period`, on whichever statement."""
        return self._by_service(select(p.service, func.sum(p.debit - p.credit)).where(
            p.original_period == period, RECEIVABLE).group_by(p.service))

    def _by_service(self, query) -> dict[str, Decimal]:
        return {service: Decimal(total or 0) for service, total in self.c.execute(query).all()}

    # Disputes.

    def statement_head(self, number: str) -> dict | None:
        row = self.c.execute(select(st.number, st.tenant, st.period).where(st.number == number)).mappings().first()
        return dict(row) if row else None

    def statement_line(self, tenant: str, period: str, line_id: str) -> dict | None:
        """A line a partner may dispute on its statement of `period`: the charge or share `line_id`,
        its source, service, description and amount there."""
        row = self.c.execute(select(
            p.source, p.service, func.sum(p.debit - p.credit).label("amount"),
            func.max(func.coalesce(ch.description, sc.description)).label("description"),
            func.max(p.original_period).label("period"),
            func.max(func.coalesce(p.for_tenant, p.tenant)).label("for_tenant"))
            .select_from(t.postings.outerjoin(t.charges, p.source_id == ch.charge_id)
                         .outerjoin(t.shared_costs, p.source_id == sc.cost_id))
            .where(p.period == period, p.tenant == tenant, p.source_id == line_id, p.source.in_(DISPUTABLE),
                   RECEIVABLE).group_by(p.source, p.service)).mappings().first()
        return dict(row) if row else None

    def disputes(self, tenant: str | None = None, *, dispute_id: str | None = None, line_id: str | None = None,
                 period: str | None = None, status: str | None = None) -> list[dict]:
        """Disputes with their answers, newest first: `status` open (unanswered), accepted or rejected."""
        query = scoped(select(*DISPUTE).select_from(t.disputes.outerjoin(t.dispute_answers)), d.tenant, tenant)
        for column, value in ((d.dispute_id, dispute_id), (d.line_id, line_id), (d.period, period)):
            if value is not None:
                query = query.where(column == value)
        if status is not None:
            query = query.where(da.outcome.is_(None) if status == "open" else da.outcome == status)
        return [dict(row) for row in self.c.execute(query.order_by(d.raised_at.desc(), d.dispute_id)).mappings()]

    def add_dispute(self, row: dict) -> None:
        self._add(t.disputes, [row])

    def add_dispute_answer(self, row: dict) -> None:
        self._add(t.dispute_answers, [row])

    # The finance API.

    def period_summary(self, period: str) -> dict:
        charges = self.c.execute(select(func.count(), func.coalesce(func.sum(ch.amount), 0))
                                 .where(ch.period == period)).one()
        costs = self.c.execute(select(func.count(), func.coalesce(func.sum(sc.amount), 0))
                               .where(sc.period == period)).one()
        withdrawn = self.c.execute(select(func.count()).select_from(t.withdrawals.join(
            t.shared_costs, w.cost_id == sc.cost_id)).where(sc.period == period)).scalar()
        return {"status": self.period_status(period), "charges": charges[0], "charges_total": Decimal(charges[1]),
                "shared_costs": costs[0], "shared_costs_total": Decimal(costs[1]), "withdrawn": withdrawn}

    def add_command(self, row: dict) -> None:
        """Record a command once: a retry of the same command (the same event) records nothing more."""
        try:
            with self.c.begin_nested():
                self.c.execute(insert(t.commands), row)
        except IntegrityError:
            pass

    def pending_command(self, kinds: Sequence[str], subject: str, tenant: str | None = None) -> dict | None:
        """A command about `subject` (of `tenant`'s, if given) the ledger has not decided yet."""
        row = self.c.execute(scoped(select(t.commands).where(
            cmd.subject == subject, cmd.kind.in_(kinds), ~exists().where(t.events.c.event_id == cmd.command_id),
            ~exists().where(r.event_id == cmd.command_id)), cmd.tenant, tenant).order_by(cmd.requested_at)
            .limit(1)).mappings().first()
        return dict(row) if row else None

    def command(self, command_id: str) -> dict | None:
        """A command with what the ledger made of it: `event` (applied) or `refusal`, and what it posted."""
        row = self.c.execute(select(t.commands).where(cmd.command_id == command_id)).mappings().first()
        applied = self.c.execute(select(t.events).where(t.events.c.event_id == command_id)).mappings().first()
        refusal = self.c.execute(select(t.refusals).where(r.event_id == command_id)).mappings().first()
        if row is None and applied is None and refusal is None:
            return None
        found = {"command": dict(row) if row else None, "event": dict(applied) if applied else None,
                 "refusal": dict(refusal) if refusal else None}
        if applied and applied["event_type"] == CHARGE_RECORDED:
            # By the id the command names; a charge no command stands for (a worker's) by its event.
            charge_id = json.loads(row["body"]).get("charge_id") if row else None
            found["charge"] = self.c.execute(select(ch.charge_id, ch.corrects, ch.amount, ch.quantity, ch.unit_price,
                                                    ch.amount_set_by_hand).where(
                ch.charge_id == charge_id if charge_id else ch.event_id == command_id)).mappings().first()
        elif applied:
            dispute = self.c.execute(select(*DISPUTE).select_from(t.disputes.outerjoin(t.dispute_answers)).where(
                or_(d.event_id == command_id, da.event_id == command_id))).mappings().first()
            found["dispute"] = dict(dispute) if dispute else None
            found["costs"] = [dict(x) for x in self.c.execute(select(sc.cost_id, sc.basis, sc.amount, sc.replaces)
                                                              .where(sc.event_id == command_id)).mappings()]
            found["withdrawal"] = self.c.execute(select(t.withdrawals).where(w.event_id == command_id)
                                                 ).mappings().first()
        return found

    def idempotency_body(self, scope: str, key: str) -> str | None:
        """The body digest an Idempotency-Key was taken with, if it was taken."""
        k = t.idempotency_keys.c
        return self.c.execute(select(k.body_sha256).where(k.scope == scope, k.key == key)).scalar()


def copy_rows(c: Connection, table: Table, rows: list[dict]) -> None:
    """Write `rows` with PostgreSQL's COPY: they stream to the server, which stores them as they come,
    at a fraction of an INSERT's cost per row on both sides. Constraints and the transaction hold as for
    an INSERT, and a driver error is raised as `execute` would raise it: as SQLAlchemy's IntegrityError,
    OperationalError and so on, the connection given up if the server is gone."""
    columns = [name for name in table.columns.keys() if name in rows[0]]
    values = itemgetter(*columns)  # a row's values in the columns' order (every table has several)
    times = [i for i, name in enumerate(columns) if isinstance(table.c[name].type, DateTime)]
    # Each time as text, once: the driver takes longer over a datetime than over the rest of a row, and
    # a batch's rows share one time.
    texts: dict[datetime, str] = {}
    # Through a staging table of this session's own: PostgreSQL refuses COPY into a table under
    # row-level security (shared/privileges.py), not into one it then inserts from in one statement.
    listed = ", ".join(columns)
    staging = f"staging_{table.name}_{zlib.crc32(listed.encode()):08x}"
    statement = f"COPY {staging} ({listed}) FROM STDIN"
    driver, error = c.connection.driver_connection, c.dialect.loaded_dbapi.Error
    try:
        with driver.cursor() as cursor:
            cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS AS "
                           f"SELECT {listed} FROM {table.name} WITH NO DATA")
        with driver.cursor() as cursor, cursor.copy(statement) as stream:
            for row in rows:
                line = values(row)
                if times:
                    line = list(line)
                    for i in times:
                        if (at := line[i]) is not None:
                            line[i] = texts.get(at) or texts.setdefault(at, at.isoformat())
                stream.write_row(line)
        with driver.cursor() as cursor:
            cursor.execute(f"INSERT INTO {table.name} ({listed}) SELECT {listed} FROM {staging}")
            cursor.execute(f"TRUNCATE {staging}")  # the transaction may copy into it again
    except error as exc:
        lost = c.dialect.is_disconnect(exc, driver, None)
        if lost:
            c.invalidate(exc)
        raise DBAPIError.instance(statement, None, exc, error, connection_invalidated=lost, dialect=c.dialect) from None


class _Reading:
    def __init__(self, engine: Engine, tenant: str | None):
        self.engine, self.tenant = engine, tenant

    def __enter__(self) -> Books:
        self.connection = self.engine.connect()
        as_tenant(self.connection, self.tenant)
        return Books(self.connection)

    def __exit__(self, *exc) -> None:
        self.connection.close()
