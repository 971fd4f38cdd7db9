"""The month end's SQL at scale: a period's statements summed per tenant and section by the database
in one pass, and their lines streamed in another; issued statements as stored.

On PostgreSQL a close first analyses the postings (`analyse`) and gives each transaction that reads
a period whole room to hash its charges (`reading_whole_period`).

The rules stay in `statements`; the one test written here too is which section a line goes in
(`section`, beside `statements.entry`), so the database can sum by it.
"""

from collections.abc import Iterator, Sequence

from sqlalchemy import BigInteger, Connection, String, case, cast, func, select, text
from sqlalchemy.engine import Row
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from services.finance.ledger import tables as t
from services.finance.ledger.repository import RECEIVABLE, scoped, statement_postings
from services.finance.ledger.signing import Link
from services.finance.ledger.statements import CREDIT_SOURCES, DIRECT_FIELDS

p, ch, sc, st = t.postings.c, t.charges.c, t.shared_costs.c, t.statements.c
CHARGED = t.postings.outerjoin(t.charges, p.source_id == ch.charge_id)  # a posting with its charge, if any
BATCH = 10_000  # rows fetched at a time from a streamed read
BY_ID = 1_000  # postings looked up by id per query


class money_text(FunctionElement):  # noqa: N801 (an SQL function)
    """An amount as text with its two decimals ("12.30"), as `statements.pounds` writes it."""

    type = String()
    inherit_cache = True


@compiles(money_text)
def _numeric_text(element, compiler, **kw) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS TEXT)"  # NUMERIC(16, 2) keeps its scale


@compiles(money_text, "sqlite")
def _real_text(element, compiler, **kw) -> str:
    return f"printf('%.2f', {compiler.process(element.clauses, **kw)})"  # SQLite keeps money as REAL


def section(period: str):
    """The section of `period`'s statement a posting's line goes in: `statements.entry`'s test."""
    return case((p.source.in_(CREDIT_SOURCES), "credit_notes"),
                (p.original_period != period, "prior_period_adjustments"),
                (p.source.in_(("reversal", "withdrawal")) | (ch.kind == "correction"), "corrections"),
                (p.source == "shared_cost", "shared_costs"), else_="direct_charges")


def sums(c: Connection, period: str) -> list[Row]:
    """Per tenant, section, service and request type: how many lines `period`'s statements have, and
    their sum in pence (whole numbers, so exact on SQLite's REAL too)."""
    lines = (select(p.tenant, section(period).label("section"), p.service, ch.request_type,
                    func.round((p.debit - p.credit) * 100).label("pence"))
             .select_from(CHARGED).where(p.period == period, RECEIVABLE).subquery())
    keys = (lines.c.tenant, lines.c.section, lines.c.service, lines.c.request_type)
    pence = cast(func.sum(lines.c.pence), BigInteger).label("pence")
    return c.execute(select(*keys, func.count().label("lines"), pence).group_by(*keys)).all()


def lines(c: Connection, period: str) -> Iterator[Sequence]:
    """Every line of `period`'s statements in one pass, streamed, in no particular order: each row the
    posting's id (the posting order), its section and tenant, then a direct charge's
    `statements.DIRECT_FIELDS`. The other lines, a few, are read whole by `postings`."""
    query = _lines(period)
    if c.dialect.name != "postgresql":
        yield from c.execute(query, execution_options={"yield_per": BATCH})
        return
    # As the server sends them, so it reads on while the lines are written (a server-side cursor
    # would wait for each FETCH); plain tuples, for a row's attributes are slow.
    compiled = query.compile(dialect=c.dialect, compile_kwargs={"render_postcompile": True})
    with c.connection.driver_connection.cursor() as cursor:
        yield from cursor.stream(str(compiled), compiled.params, size=BATCH)


def _lines(period: str):
    fields = {"service": p.service, "request_type": ch.request_type, "amount": money_text(p.debit - p.credit),
              "amount_set_by_hand": ch.amount_set_by_hand, "charge_id": ch.charge_id, "cost_centre": ch.cost_centre,
              "charge_description": ch.description, "event_id": p.event_id, "kind": ch.kind,
              "for_tenant": p.for_tenant, "original_period": p.original_period,
              "quantity": func.rtrim(func.rtrim(money_text(ch.quantity), "0"), "."),  # as Decimal.normalize()
              "request_id": ch.request_id, "unit_price": money_text(ch.unit_price)}
    return (select(p.id, section(period).label("section"), p.tenant,
                   *(fields[name].label(name) for name in DIRECT_FIELDS))
            .select_from(CHARGED).where(p.period == period, RECEIVABLE))


def postings(c: Connection, period: str, ids: list[int], after: int) -> list[dict]:
    """The receivable postings on `period`'s statements that are `ids` (ascending) or came after the
    posting `after`, with their charge or shared cost, as `statements.entry` takes them, in posting order."""
    query = statement_postings(period).order_by(p.id)
    chunks = [query.where(p.id.in_(ids[start:start + BY_ID])) for start in range(0, len(ids), BY_ID)]
    return [dict(row) for chunk in [*chunks, query.where(p.id > after)] for row in c.execute(chunk).mappings()]


def last_posting(c: Connection) -> int:
    """The last posting's id (0 before the first)."""
    return c.execute(select(func.coalesce(func.max(p.id), 0))).scalar()


def analyse(c: Connection) -> None:
    """On PostgreSQL, before a close: the period's postings may all be newer than the statistics, and
    planned as a few they are joined to their charges one index lookup at a time. So analyse what
    they are selected by (a sample: a tenth of a second), in a transaction of its own, for every
    connection the close reads on to plan with it."""
    if c.dialect.name == "postgresql":
        c.execute(text("ANALYZE ledger_postings (period, account)"))


def reading_whole_period(c: Connection) -> None:
    """On PostgreSQL, room in this transaction to hash a period's charges in memory, not in batches on disk."""
    if c.dialect.name == "postgresql":
        c.execute(text("SET LOCAL work_mem = '256MB'"))


LINK = (st.sequence, st.body_sha256, st.signature, st.previous_signature, st.key_id)


def issued(c: Connection, period: str | None, tenant: str | None) -> list[Row]:
    """The issued statements' numbers, tenants, periods, totals, seals and signatures, in number order."""
    query = scoped(select(st.number, st.tenant, st.period, st.total, st.content_sha256, *LINK).order_by(st.sequence),
                   st.tenant, tenant)
    return c.execute(query.where(st.period == period) if period else query).all()


def links(c: Connection) -> list[Link]:
    """What every issued statement's signature and chain are checked with."""
    return [Link(r.number, r.sequence, r.tenant, r.period, r.body_sha256, r.signature, r.previous_signature, r.key_id)
            for r in c.execute(select(st.number, st.tenant, st.period, *LINK))]


def latest_signatures(c: Connection) -> dict[str, str | None]:
    """Each tenant's last statement's signature."""
    last = select(func.max(st.sequence)).group_by(st.tenant)
    return dict(c.execute(select(st.tenant, st.signature).where(st.sequence.in_(last))).all())


def previous(c: Connection, tenant: str, sequence: int) -> tuple[str, str] | None:
    """The number and total of `tenant`'s statement before the one numbered `sequence`."""
    row = c.execute(select(st.number, st.total).where(st.tenant == tenant, st.sequence < sequence)
                    .order_by(st.sequence.desc()).limit(1)).first()
    return (row.number, str(row.total)) if row else None


def stored(c: Connection, number: str, tenant: str | None) -> Row | None:
    """An issued statement's text as sealed, with its signature; another tenant's is as absent as one
    never issued."""
    return c.execute(scoped(select(st.number, st.tenant, st.period, st.body, *LINK).where(st.number == number),
                            st.tenant, tenant)).first()
