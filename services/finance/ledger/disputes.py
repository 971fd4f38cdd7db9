"""Disputes: what a partner may dispute, what finance may answer, and the credit note an accepted
dispute posts. The API checks with the same rules before it publishes; the ledger applies them again
under the writers' lock, for the API's reads may be overtaken.

An issued statement is never changed. A credit note is a negative line on the partner's next open
statement, referencing the disputed line; if that line was a share of a shared cost, the credit is
apportioned back to the other tenants that bore the cost, by their shares of it, so the cost is still
recovered in full. Each tenant disputes its own line: a shared cost's share on one statement, not
the others'. A line can be disputed again after a rejection, never after an acceptance; the charge
or cost behind it cannot then be corrected or withdrawn twice over (a withdrawal reverses the
credit notes with the shares). A credit note belongs to the month of the line it credits, and is
for whom the line was (a predecessor its successor answers for).
"""

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

from services.finance.ledger.apportionment import MILLIONTH
from services.finance.ledger.entries import Unpostable, billed, pair
from services.finance.ledger.repository import Books
from services.finance.ledger.statements import pounds
from shared.contracts import DisputeAccepted, DisputeRaised, DisputeRejected
from shared.db import aware
from shared.events import Event
from shared.money import apportion
from shared.tenants import Registry


def disputable(books: Books, tenant: str, number: str, line_id: str) -> tuple[dict, dict]:
    """(statement, line) that `tenant` may dispute; Unpostable saying why not."""
    statement = books.statement_head(number)
    if statement is None or statement["tenant"] != tenant:
        raise Unpostable(f"no statement {number} of {tenant}", "not_found")
    line = books.statement_line(tenant, statement["period"], line_id)
    if line is None:
        raise Unpostable(f"statement {number} has no charge or shared cost {line_id}", "not_found")
    if line["amount"] <= 0:
        raise Unpostable(f"line {line_id} of statement {number} is a credit of £{-line['amount']:.2f}: "
                         "only an amount charged can be disputed", "invalid")
    _stands(books, line["source"], line_id)
    for earlier in books.disputes(tenant, line_id=line_id):  # the line is the tenant's own: others may dispute theirs
        if earlier["outcome"] is None:
            raise Unpostable(f"line {line_id} is disputed already (dispute {earlier['dispute_id']}), awaiting "
                             "finance's answer", "already_disputed", dispute_id=earlier["dispute_id"])
        if earlier["outcome"] == "accepted":
            raise Unpostable(f"line {line_id} was credited already (dispute {earlier['dispute_id']})",
                             "already_credited", dispute_id=earlier["dispute_id"])
    return statement, line


def _stands(books: Books, source: str, line_id: str) -> None:
    """A line corrected or withdrawn since its statement was taken back already: nothing left to credit."""
    if source == "charge" and (by := books.correction_of(line_id)):
        raise Unpostable(f"charge {line_id} was corrected already by charge {by}", "already_corrected",
                         corrected_by=by)
    if source == "shared_cost" and books.withdrawal(line_id):
        raise Unpostable(f"shared cost {line_id} was withdrawn already: its shares are reversed",
                         "already_withdrawn")


def answerable(books: Books, dispute_id: str, credit: Decimal | None, tenant: str | None = None) -> dict:
    """The open dispute to answer (with a credit of at most its amount); Unpostable saying why not."""
    [dispute] = books.disputes(tenant, dispute_id=dispute_id) or [None]
    if dispute is None:
        raise Unpostable(f"no dispute {dispute_id}", "not_found")
    if dispute["outcome"] is not None:
        raise Unpostable(f"dispute {dispute_id} was {dispute['outcome']} already by {dispute['answered_by']}",
                         "already_answered", outcome=dispute["outcome"])
    if credit is not None:
        if credit > dispute["amount"]:
            raise Unpostable(f"credit: £{credit:.2f} is more than the disputed line's £{dispute['amount']:.2f}",
                             "invalid", field="credit")
        _stands(books, dispute["line_source"], dispute["line_id"])
    return dispute


def record(books: Books, event: Event, raised: DisputeRaised) -> None:
    statement, line = disputable(books, event.tenant, raised.statement_number, str(raised.line_id))
    books.add_dispute({"dispute_id": str(raised.dispute_id), "event_id": str(event.id), "tenant": event.tenant,
                       "statement_number": statement["number"], "period": statement["period"],
                       "line_id": str(raised.line_id), "line_source": line["source"], "line_period": line["period"],
                       "line_for": line["for_tenant"], "service": line["service"],
                       "amount": line["amount"], "description": line["description"] or "", "reason": raised.reason,
                       "raised_by": raised.raised_by, "raised_at": datetime.now(UTC)})


def answer(books: Books, registry: Registry, statement_of, event: Event,
           answered: DisputeAccepted | DisputeRejected) -> None:
    """Record finance's answer; an acceptance posts its credit note on the next open statement
    (`statement_of(period)`), and for a shared cost the shares apportioned back to the others."""
    accepted = isinstance(answered, DisputeAccepted)
    dispute = answerable(books, str(answered.dispute_id), answered.credit if accepted else None, event.tenant)
    row = {"dispute_id": dispute["dispute_id"], "event_id": str(event.id), "reason": answered.reason,
           "answered_by": answered.answered_by, "answered_at": datetime.now(UTC), "reapportioned": False}
    if not accepted:
        books.add_dispute_answer({**row, "outcome": "rejected"})
        return
    statement = statement_of(dispute["period"])
    postings = credit_note(registry, str(event.id), dispute, answered.credit, statement)
    if dispute["line_source"] == "shared_cost":
        cost = books.shared_cost(dispute["line_id"])
        borne = books.shares_posted(cost) + books.credits_of(cost["cost_id"])  # as it stands now, credits too
        postings += apportioned_back(registry, str(event.id), dispute, answered.credit, statement, borne)
    books.add_postings(postings)
    books.add_dispute_answer({**row, "outcome": "accepted", "credit": answered.credit, "credited_on": statement,
                              "reapportioned": any(x["source"] == "reapportioned" for x in postings)})


def credit_note(registry: Registry, event_id: str, dispute: dict, credit: Decimal, statement: str) -> list[dict]:
    """The credit, for whom the line was (a predecessor its successor answers for), in the line's own month."""
    what = f"dispute {dispute['dispute_id']}"
    tenant = billed(registry, dispute["line_for"], dispute["line_period"], statement, what)
    return pair(event_id=event_id, source="credit_note", source_id=dispute["dispute_id"], tenant=tenant,
                for_tenant=dispute["line_for"], service=dispute["service"], amount=-credit, period=statement,
                original_period=dispute["line_period"])


def apportioned_back(registry: Registry, event_id: str, dispute: dict, credit: Decimal, statement: str,
                     posted: list[dict]) -> list[dict]:
    """`credit` borne by the other tenants of the cost, in proportion to what each bears of it now
    (its share, less what it was credited, plus what it bore of others' credits); none if nobody
    else bears any (the service then carries the credit)."""
    borne: dict[str, Decimal] = defaultdict(Decimal)
    for x in posted:
        if dispute["tenant"] not in (x["tenant"], x["for_tenant"]) and x["for_tenant"] != dispute["line_for"]:
            borne[x["for_tenant"]] += Decimal(x["debit"]) - Decimal(x["credit"])
    borne = {tenant: amount for tenant, amount in borne.items() if amount > 0}
    if not borne:
        return []
    total, split, rows = sum(borne.values()), apportion(credit, borne), []
    for other in sorted(borne):
        tenant = billed(registry, other, dispute["line_period"], statement, f"dispute {dispute['dispute_id']}")
        rows += pair(event_id=event_id, source="reapportioned", source_id=dispute["dispute_id"], tenant=tenant,
                     for_tenant=other, service=dispute["service"], amount=split[other], period=statement,
                     original_period=dispute["line_period"], basis="shares",
                     exact_share=(credit * borne[other] / total).quantize(MILLIONTH))
    return rows


def shown(dispute: dict) -> dict:
    """A dispute as both sides read it: the line, the reason, and finance's answer once given."""
    status = dispute["outcome"] or "open"
    answered = None if status == "open" else {
        "outcome": dispute["outcome"], "reason": dispute["answer_reason"], "answered_by": dispute["answered_by"],
        "answered_at": aware(dispute["answered_at"]).isoformat(),
        "credit": None if dispute["credit"] is None else pounds(dispute["credit"]),
        "credited_on": dispute["credited_on"], "reapportioned": bool(dispute["reapportioned"])}
    return {"dispute_id": dispute["dispute_id"], "status": status, "tenant": dispute["tenant"],
            "statement_number": dispute["statement_number"], "period": dispute["period"],
            "line_id": dispute["line_id"], "line_source": dispute["line_source"], "service": dispute["service"],
            "description": dispute["description"], "amount": pounds(dispute["amount"]), "reason": dispute["reason"],
            "raised_by": dispute["raised_by"], "raised_at": aware(dispute["raised_at"]).isoformat(), "answer": answered}
