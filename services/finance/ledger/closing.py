"""Period close, draft previews and reconciliation: the ledger's month end."""

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import Engine, func, insert, select, update

from services.finance.ledger import tables as t
from services.finance.ledger.entries import apportion_cost, is_closed, lock
from services.finance.ledger.statements import build, canonical, seal
from shared.db import upsert
from shared.fields import first_day
from shared.tenants import Registry


class PeriodClosed(ValueError):
    pass


def _tenants(c, registry: Registry, period: str) -> list[str]:
    """Every tenant active in the period, and any other with entries on its statement."""
    posted = c.execute(select(t.postings.c.tenant).distinct().where(
        t.postings.c.period == period, t.postings.c.account.like("receivable:%"))).scalars()
    return sorted({tt.code for tt in registry.active(first_day(period))} | set(posted))


def _apportion_pending(c, registry: Registry, period: str) -> None:
    pending = c.execute(select(t.shared_costs).where(t.shared_costs.c.period == period,
                                                     t.shared_costs.c.apportioned == 0)).mappings().all()
    for cost in pending:
        apportion_cost(c, registry, dict(cost), period)


class MonthEnd:
    def __init__(self, engine: Engine, registry: Registry):
        self.engine, self.registry = engine, registry

    def preview(self, period: str, tenant: str | None = None) -> list[dict]:
        """Draft statements as they would be issued now; nothing is kept."""
        with self.engine.connect() as c:
            tx = c.begin()
            try:
                if not is_closed(c, period):
                    _apportion_pending(c, self.registry, period)
                return [self._draft(c, code, period) for code in _tenants(c, self.registry, period)
                        if tenant in (None, code)]
            finally:
                tx.rollback()

    def close(self, period: str, closed_by: str) -> list[dict]:
        """Freeze the period and issue one numbered, hashed statement per tenant."""
        with self.engine.begin() as c:
            lock(c)
            if is_closed(c, period):
                raise PeriodClosed(f"{period} is closed and its statements are issued; they cannot be reissued "
                                   "or changed: a late or corrected charge goes on the next open period")
            _apportion_pending(c, self.registry, period)
            issued_at = datetime.now(UTC).isoformat()
            sequence = c.execute(select(t.control.c.statement_sequence).where(t.control.c.id == 1)).scalar()
            issued = []
            for code in _tenants(c, self.registry, period):
                sequence += 1
                number = f"HPS-{period.replace('-', '')}-{sequence:05d}"
                statement = seal(self._draft(c, code, period), number, issued_at)
                c.execute(insert(t.statements).values(
                    number=number, sequence=sequence, tenant=code, period=period, issued_at=datetime.now(UTC),
                    total=Decimal(statement["totals"]["total"]), content_sha256=statement["content_sha256"],
                    body=canonical(statement)))
                issued.append(statement)
            c.execute(update(t.control).where(t.control.c.id == 1).values(statement_sequence=sequence))
            upsert(c, t.periods, {"period": period},
                   {"status": "closed", "closed_at": datetime.now(UTC), "closed_by": closed_by})
        return issued

    def _draft(self, c, code: str, period: str) -> dict:
        name = self.registry.tenants[code].name if code in self.registry.tenants else code
        return build(c, code, name, period)

    def reconcile(self, period: str) -> list["Reconciliation"]:
        """Per service: what was recorded for the period against what the tenants were recharged for it.

        An open period is reconciled as if closed now (pending shared costs apportioned, then undone)."""
        with self.engine.connect() as c:
            tx = c.begin()
            try:
                if not is_closed(c, period):
                    _apportion_pending(c, self.registry, period)
                return self._reconcile(c, period)
            finally:
                tx.rollback()

    def _reconcile(self, c, period: str) -> list["Reconciliation"]:
        ch, sc, p = t.charges.c, t.shared_costs.c, t.postings.c
        reversed_ids = select(p.source_id).where(p.source == "reversal")
        charged = dict(c.execute(select(ch.service, func.sum(ch.amount)).where(
            ch.period == period, ch.charge_id.not_in(reversed_ids)).group_by(ch.service)).all())
        costs = dict(c.execute(select(sc.service, func.sum(sc.amount)).where(sc.period == period)
                               .group_by(sc.service)).all())
        recharged = dict(c.execute(select(p.service, func.sum(p.debit - p.credit)).where(
            p.original_period == period, p.account.like("receivable:%")).group_by(p.service)).all())
        return [Reconciliation(service, Decimal(charged.get(service) or 0), Decimal(costs.get(service) or 0),
                               Decimal(recharged.get(service) or 0))
                for service in sorted(set(charged) | set(costs) | set(recharged))]


@dataclass(frozen=True)
class Reconciliation:
    service: str
    direct_charges: Decimal
    shared_costs: Decimal
    recharged: Decimal

    @property
    def recorded(self) -> Decimal:
        return self.direct_charges + self.shared_costs

    @property
    def difference(self) -> Decimal:
        return self.recharged - self.recorded
