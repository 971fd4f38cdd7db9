"""Period close, draft previews and reconciliation: the ledger's month end.

A shared cost of the period that cannot be apportioned (a usage basis nobody used) does not stop
a preview or a reconciliation: it is a blocker they report, with why and what to do. Only the close
waits for it: `PeriodBlocked` until finance withdraws it or records it again on another basis.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import Engine

from services.finance.ledger.apportionment import ApportionmentError, bases_that_apportion, shares
from services.finance.ledger.entries import Unpostable, share_postings
from services.finance.ledger.repository import Books
from services.finance.ledger.statements import build, canonical, seal
from shared.fields import first_day
from shared.tenants import Registry


class PeriodClosed(ValueError):
    pass


@dataclass(frozen=True)
class Blocker:
    """A shared cost of the period that cannot be apportioned, why, and the bases that would do."""

    cost: dict
    reason: str
    bases: list[str]


class PeriodBlocked(ValueError):
    def __init__(self, period: str, blockers: list[Blocker]):
        super().__init__(f"{period} cannot be closed: {len(blockers)} shared cost(s) cannot be apportioned; "
                         "withdraw or re-basis each one")
        self.period, self.blockers = period, blockers


@dataclass
class Plan:
    """What closing the period now would post for its pending shared costs, and what it could not."""

    posts: list[tuple[dict, list[dict]]] = field(default_factory=list)  # (cost, its share postings)
    blockers: list[Blocker] = field(default_factory=list)

    def lines(self, tenant: str) -> list[dict]:
        """The planned postings on `tenant`'s statement, as Books.statement_lines reads posted ones."""
        return [{**posting, "cost_id": cost["cost_id"], "cost_description": cost["description"],
                 "cost_total": cost["amount"], "cost_reason": cost["reason"], "replaces": cost["replaces"]}
                for cost, postings in self.posts for posting in postings
                if posting["account"] == f"receivable:{tenant}"]

    def tenants(self) -> set[str]:
        return {posting["tenant"] for _, postings in self.posts for posting in postings}


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


@dataclass(frozen=True)
class Report:
    services: list[Reconciliation]
    blockers: list[Blocker]

    @property
    def balanced(self) -> bool:
        return not self.blockers and all(r.difference == 0 for r in self.services)


@dataclass(frozen=True)
class Preview:
    statements: list[dict]
    blockers: list[Blocker]


class MonthEnd:
    def __init__(self, engine: Engine, registry: Registry):
        self.engine, self.registry = engine, registry
        self.names = {code: tenant.name for code, tenant in registry.tenants.items()}

    def _plan(self, books: Books, period: str) -> Plan:
        """Apportion the period's pending shared costs as a close would now, without posting anything."""
        plan, usage = Plan(), {}
        if books.is_closed(period):
            return plan
        for cost in books.pending_costs(period):
            if cost["service"] not in usage:
                usage[cost["service"]] = books.usage(cost["service"], period)
            used = usage[cost["service"]]
            try:
                cost_shares = shares(self.registry, cost["basis"], period, Decimal(cost["amount"]), used)
                plan.posts.append((cost, share_postings(self.registry, cost, cost_shares, period)))
            except (ApportionmentError, Unpostable) as exc:
                plan.blockers.append(Blocker(cost, str(exc), bases_that_apportion(self.registry, period, used)))
        return plan

    def _tenants(self, books: Books, period: str, plan: Plan, tenant: str | None = None) -> list[str]:
        """Every tenant active in the period, and any other with entries on its statement."""
        active = {t.code for t in self.registry.active(first_day(period))} | plan.tenants()
        return sorted({code for code in active if tenant in (None, code)} | books.tenants_posted(period, tenant))

    def _draft(self, books: Books, code: str, period: str, plan: Plan) -> dict:
        rows = books.statement_lines(period, code) + plan.lines(code)
        return build(rows, code, self.names.get(code, code), period, self.names)

    def preview(self, period: str, tenant: str | None = None) -> Preview:
        """Draft statements as they would be issued now, and what would stop the close; nothing is kept."""
        with Books.reading(self.engine) as books:
            plan = self._plan(books, period)
            drafts = [self._draft(books, code, period, plan) for code in self._tenants(books, period, plan, tenant)]
        return Preview(drafts, plan.blockers)

    def close(self, period: str, closed_by: str) -> list[dict]:
        """Freeze the period and issue one numbered, hashed statement per tenant."""
        with self.engine.begin() as c:
            books = Books(c)
            books.lock()
            if books.is_closed(period):
                raise PeriodClosed(f"{period} is closed and its statements are issued; they cannot be reissued "
                                   "or changed: a late or corrected charge goes on the next open period")
            plan = self._plan(books, period)
            if plan.blockers:
                raise PeriodBlocked(period, plan.blockers)
            for cost, postings in plan.posts:
                books.add_postings(postings)
                books.mark_apportioned(cost["cost_id"])
            issued_at = datetime.now(UTC).isoformat()
            sequence, issued = books.statement_sequence(), []
            for code in self._tenants(books, period, Plan()):
                sequence += 1
                statement = seal(self._draft(books, code, period, Plan()),
                                 f"HPS-{period.replace('-', '')}-{sequence:05d}", issued_at)
                issued.append((sequence, statement, canonical(statement)))
            books.issue(period, closed_by, issued)
        return [statement for _, statement, _ in issued]

    def reconcile(self, period: str) -> Report:
        """Per service: what was recorded for the period against what the tenants were recharged for it.

        An open period is reconciled as if closed now: its pending shared costs count as apportioned,
        and those that cannot be are reported as blockers."""
        with Books.reading(self.engine) as books:
            plan = self._plan(books, period)
            charged, costs = books.recorded_charges(period), books.recorded_costs(period)
            recharged = books.recharged(period)
        for _, postings in plan.posts:
            for posting in postings:
                if posting["account"].startswith("receivable:"):
                    amount = posting["debit"] - posting["credit"]
                    recharged[posting["service"]] = recharged.get(posting["service"], Decimal(0)) + amount
        rows = [Reconciliation(service, charged.get(service, Decimal(0)), costs.get(service, Decimal(0)),
                               recharged.get(service, Decimal(0)))
                for service in sorted(set(charged) | set(costs) | set(recharged))]
        return Report(rows, plan.blockers)
