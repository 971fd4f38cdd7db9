"""Period close, draft previews and reconciliation: the ledger's month end.

A shared cost of the period that cannot be apportioned (a usage basis nobody used) does not stop
a preview or a reconciliation: it is a blocker they report, with why and what to do. Only the close
waits for it: `PeriodBlocked` until finance withdraws it or records it again on another basis.
"""

from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import Connection, Engine

from services.finance.ledger import closing_queries as q
from services.finance.ledger import signing, verification
from services.finance.ledger.apportionment import ApportionmentError, bases_that_apportion, shares
from services.finance.ledger.entries import Unpostable, share_postings
from services.finance.ledger.repository import Books
from services.finance.ledger.signing import Signer
from services.finance.ledger.statement_text import Group, Issued, sealed_text
from services.finance.ledger.statements import build, canonical, direct_text, entry, totalled
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


@dataclass
class Gathered:
    """A tenant's statement as the close gathers it: the database's sums, and every line as text."""

    groups: dict[tuple[str, str], Group] = field(default_factory=dict)  # direct charges by service, request type
    listed: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # the other sections' lines
    sums: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))  # per section


def _in_order(lines: list[tuple[int, str]]) -> list[str]:
    """Texts by posting id, as the postings were made (read nearly so: the sort has little to do)."""
    lines.sort()
    return [text for _, text in lines]


@dataclass(frozen=True)
class Reconciliation:
    service: str
    direct_charges: Decimal
    shared_costs: Decimal
    credit_notes: Decimal  # accepted disputes' credits that no other tenant bears (negative)
    recharged: Decimal

    @property
    def recorded(self) -> Decimal:
        return self.direct_charges + self.shared_costs + self.credit_notes

    @property
    def difference(self) -> Decimal:
        return self.recharged - self.recorded


@dataclass(frozen=True)
class Report:
    services: list[Reconciliation]
    blockers: list[Blocker]
    # Issued statements of the period whose signature, chain or content does not verify: number -> why.
    unverified: dict[str, str] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return not self.blockers and not self.unverified and all(r.difference == 0 for r in self.services)


@dataclass(frozen=True)
class Preview:
    statements: list[dict]
    blockers: list[Blocker]


class MonthEnd:
    def __init__(self, engine: Engine, registry: Registry, signer: Signer):
        self.engine, self.registry, self.signer = engine, registry, signer
        self.keys = {signer.kid: signer.public}  # what the platform's own checks verify with
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

    def _tenants(self, period: str, posted: set[str], tenant: str | None = None) -> list[str]:
        """Every tenant active in the period, and any other with entries (`posted`) on its statement."""
        active = {t.code for t in self.registry.active(first_day(period))}
        return sorted(code for code in active | posted if tenant in (None, code))

    def _draft(self, books: Books, code: str, period: str, plan: Plan) -> dict:
        rows = books.statement_lines(period, code) + plan.lines(code)
        return build(rows, code, self.names.get(code, code), period, self.names)

    def preview(self, period: str, tenant: str | None = None) -> Preview:
        """Draft statements as they would be issued now, and what would stop the close; nothing is kept."""
        with Books.reading(self.engine) as books:
            plan = self._plan(books, period)
            posted = books.tenants_posted(period, tenant) | plan.tenants()
            drafts = [self._draft(books, code, period, plan) for code in self._tenants(period, posted, tenant)]
        return Preview(drafts, plan.blockers)

    def close(self, period: str, closed_by: str) -> list[Issued]:
        """Freeze the period and issue one numbered, sealed statement per tenant.

        The database sums the statements in one pass while their lines stream in another (`_gather`);
        each statement is written straight to its canonical text (`statement_text.sealed_text`) and
        stored while the next one is written."""
        with self.engine.begin() as c:
            q.analyse(c)
        with self.engine.begin() as c:
            books = Books(c)
            books.lock()
            if books.is_closed(period):
                raise PeriodClosed(f"{period} is closed and its statements are issued; they cannot be reissued "
                                   "or changed: a late or corrected charge goes on the next open period")
            plan = self._plan(books, period)
            if plan.blockers:
                raise PeriodBlocked(period, plan.blockers)
            own = q.last_posting(c)
            for cost, postings in plan.posts:
                books.add_postings(postings)
                books.mark_apportioned(cost["cost_id"])
            gathered = self._gather(c, period, own)
            with ThreadPoolExecutor(max_workers=1) as storing:
                stores = [(storing.submit(books.issue, period, [statement]), statement[2])
                          for statement in self._sealed(books, period, gathered)]
            for store, _ in stores:
                store.result()
            books.close_period(period, closed_by)  # with no tenant and nothing posted, all the same
        return [Issued(text) for _, text in stores]

    def _sealed(self, books: Books, period: str, gathered: dict[str, Gathered]) -> Iterator[tuple[int, dict, str]]:
        """Each statement numbered and sealed, as Books.issue stores it."""
        issued_at, sequence = datetime.now(UTC).isoformat(), books.statement_sequence()
        previous = q.latest_signatures(books.c)  # each tenant's chain goes on from its last statement
        for code in self._tenants(period, set(gathered)):
            sequence += 1
            found, number = gathered.pop(code, Gathered()), f"HPS-{period.replace('-', '')}-{sequence:05d}"
            tenant = {"code": code, "name": self.names.get(code, code)}
            text, seal = sealed_text(tenant, period, number, issued_at, found.groups, found.listed, found.sums)
            body_sha256 = signing.digest(text)
            signature = self.signer.sign(number, code, period, body_sha256, previous.get(code) or "")
            # What storing it reads; the text itself is read again only if the caller asks.
            yield sequence, {"statement_number": number, "tenant": tenant, "content_sha256": seal,
                             "totals": {"total": totalled(found.sums)["total"]}, "body_sha256": body_sha256,
                             "signature": signature, "previous_signature": previous.get(code) or "",
                             "key_id": self.signer.kid}, text

    def _gather(self, c: Connection, period: str, own: int) -> dict[str, Gathered]:
        """Every tenant's statement of `period` as posted: the sums, and the lines' texts in posting order.

        The lines are read on a second connection while this one sums the statements. That connection
        sees every posting but the close's own, the shares it has just posted (those after `own`, read
        here with the few other lines that are not direct charges); and nothing else can be posted
        while the close holds the writers' lock."""
        with self.engine.connect() as reader, ThreadPoolExecutor(max_workers=1) as summing:
            q.reading_whole_period(c)
            q.reading_whole_period(reader)
            sums = summing.submit(q.sums, c, period)
            direct, others = defaultdict(list), []  # (id, text) by tenant and group; the other lines' ids
            for r in q.lines(reader, period):
                if r[1] == "direct_charges":
                    direct[r[2:5]].append((r[0], direct_text(r[3:], r[2], self.names)))  # r[2:5]: tenant, group
                else:
                    others.append(r[0])
            sums = sums.result()
        gathered: dict[str, Gathered] = defaultdict(Gathered)
        for r in sums:
            amount = Decimal(r.pence).scaleb(-2)
            gathered[r.tenant].sums[r.section] += amount
            if r.section == "direct_charges":
                gathered[r.tenant].groups[(r.service, r.request_type)] = Group(r.lines, amount, [])
        for (tenant, service, request_type), lines in direct.items():
            gathered[tenant].groups[(service, request_type)].texts = _in_order(lines)
        for r in q.postings(c, period, sorted(others), own):
            name, x = entry(r, r["tenant"], period, self.names)
            gathered[r["tenant"]].listed[name].append(canonical(x))
        return gathered

    def reconcile(self, period: str) -> Report:
        """Per service: what was recorded for the period against what the tenants were recharged for it.

        An open period is reconciled as if closed now: its pending shared costs count as apportioned,
        and those that cannot be are reported as blockers."""
        with Books.reading(self.engine) as books:
            plan = self._plan(books, period)
            charged, costs = books.recorded_charges(period), books.recorded_costs(period)
            credited, recharged = books.credited(period), books.recharged(period)
            unverified = verification.problems(books.c, self.keys, period)
        for _, postings in plan.posts:
            for posting in postings:
                if posting["account"].startswith("receivable:"):
                    amount = posting["debit"] - posting["credit"]
                    recharged[posting["service"]] = recharged.get(posting["service"], Decimal(0)) + amount
        zero = Decimal(0)
        rows = [Reconciliation(service, charged.get(service, zero), costs.get(service, zero),
                               credited.get(service, zero), recharged.get(service, zero))
                for service in sorted(set(charged) | set(costs) | set(credited) | set(recharged))]
        return Report(rows, plan.blockers, unverified)
