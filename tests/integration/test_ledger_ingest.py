"""The ledger's ingest at volume, on SQLite and PostgreSQL: plain charges are bulk-written and taken to
be new, the unique keys checking it, so a batch that mixes them with redeliveries, corrections,
shared costs, refusals and conflicts must still apply each event exactly once."""

import asyncio
import hashlib
import json
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from aiokafka import ConsumerRecord
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from services.finance.ledger import book
from services.finance.ledger import engine as recharge
from services.finance.ledger import tables as t
from services.finance.ledger.book import Ledger
from services.finance.ledger.entries import Conflict, Unpostable, content_hash
from services.finance.ledger.repository import Books
from shared.kafka.consuming import TRANSIENT
from tests.integration.ledger_databases import REGISTRY, LedgerFixtures, OnPostgres, OnSQLite
from tests.integration.test_ledger import charge, codec, counts, shared_cost


def receivables(db) -> dict[str, Decimal]:
    with db.connect() as c:
        return dict(c.execute(select(t.postings.c.tenant, func.sum(t.postings.c.debit - t.postings.c.credit))
                              .where(t.postings.c.account.like("receivable:%")).group_by(t.postings.c.tenant)).all())


def balanced(db) -> bool:
    with db.connect() as c:
        debits, credits = c.execute(select(func.sum(t.postings.c.debit), func.sum(t.postings.c.credit))).one()
    return debits == credits


class IngestContract(LedgerFixtures):
    def test_a_batch_mixing_redeliveries_corrections_and_plain_charges_applies_each_once(self, ledger, db):
        # Monday's batch: two charges and a shared cost.
        monday, tuesday = charge("council", "100.00"), charge("ccg", "40.00")
        wan = shared_cost("300.00", "fixed")
        assert ledger.apply_all([monday, tuesday, wan]) == [True, True, True]
        # After a crash, a batch brings some of them again, between new charges, a correction of
        # Tuesday's charge, a charge for a tenant that has not joined yet and a tampered resend.
        new, later = charge("hospital", "12.34"), charge("council", "0.01")
        fix = charge("ccg", "45.00", kind="correction", corrects=tuesday.data["charge_id"])
        police = charge("police", "5.00")  # a tenant from 2027
        tampered = new.model_copy(update={"data": {**new.data, "amount": "99.00", "unit_price": "99.00"}})
        batch = [new, monday, fix, monday, later, wan, police, tampered]
        results = ledger.apply_all(batch)
        assert results[:6] == [True, False, True, False, True, False]
        assert isinstance(results[6], Unpostable) and results[6].code == "not_billable"
        assert isinstance(results[7], Conflict)
        after = counts(db)
        # Five charges and the reversal of Tuesday's, a pair of postings each; the cost waits for the close.
        assert after == {"ledger_events": 6, "ledger_charges": 5, "ledger_shared_costs": 1,
                         "ledger_postings": 2 * 6, "ledger_statements": 0}
        assert receivables(db) == {"council": Decimal("100.01"), "ccg": Decimal("45.00"), "hospital": Decimal("12.34")}
        # The whole batch once more: nothing is applied twice, the refusal is the same one.
        again = ledger.apply_all(batch)
        assert again[:6] == [False] * 6
        assert isinstance(again[6], Unpostable) and again[6].refused_at == results[6].refused_at
        assert isinstance(again[7], Conflict)
        assert counts(db) == after and balanced(db)

    def test_a_charge_id_reused_by_another_event_is_a_conflict_and_the_rest_is_posted(self, ledger, db):
        first = charge("council", "10.00")
        ledger.apply(first)
        reused = charge("ccg", "20.00", charge_id=first.data["charge_id"])
        other = charge("ccg", "30.00")
        results = ledger.apply_all([other, reused])
        assert results[0] is True and isinstance(results[1], Conflict)
        assert receivables(db) == {"council": Decimal("10.00"), "ccg": Decimal("30.00")}

    def test_a_charge_applied_before_is_a_redelivery_even_where_it_could_not_be_posted_now(self, ledger, db):
        event = charge("hospital", "10.00")
        ledger.apply(event)
        # The registry is edited: the trust ended before that month, with no successor.
        ended = REGISTRY.get("hospital").model_copy(update={"valid_to": date(2026, 9, 30)})
        edited = Ledger(db, replace(REGISTRY, tenants={**REGISTRY.tenants, "hospital": ended}))
        later = charge("hospital", "5.00")
        assert edited.apply_all([event, later])[0] is False  # not refused: it stands as applied
        with db.connect() as c:
            assert c.execute(select(t.refusals.c.event_id)).scalars().all() == [str(later.id)]

    def test_text_and_pence_come_back_exactly_as_written(self, ledger, db):
        awkward = "Tab\there, line\nthere, back\\slash, \\N, 'quotes' \"too\", café, ₤, 🚀"
        event = charge("council", "1234567.89", description=awkward, cost_centre="CC-1")
        ledger.apply(event)
        with db.connect() as c:
            row = c.execute(select(t.charges).where(t.charges.c.charge_id == event.data["charge_id"])).mappings().one()
        assert row["description"] == awkward
        assert (row["amount"], row["unit_price"], row["quantity"]) == (Decimal("1234567.89"), Decimal("1234567.89"),
                                                                      Decimal("1.00"))
        assert row["request_id"] == event.data["request_id"] and row["corrects"] is None
        assert row["amount_set_by_hand"] is False
        assert receivables(db) == {"council": Decimal("1234567.89")}

    def test_an_event_recorded_with_the_earlier_digest_is_still_known(self, ledger, db, monkeypatch):
        def earlier(event):  # the digest that releases before 2026-12 recorded
            body = event.model_dump(mode="json", exclude={"time"})
            return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

        event = charge("council", "10.00")
        with monkeypatch.context() as release:
            release.setattr(book, "content_hash", earlier)
            ledger.apply(event)
        assert ledger.apply(event) is False
        with pytest.raises(Conflict):
            ledger.apply(event.model_copy(update={"data": {**event.data, "description": "changed"}}))
        assert counts(db)["ledger_postings"] == 2

    def test_the_engine_posts_a_fetch_once_whatever_fails_and_however_often_it_comes(self, ledger, db, monkeypatch):
        events = [charge(("council", "ccg", "hospital")[i % 3], f"{i + 1}.00") for i in range(8)]
        messages = [record(i, codec.encode(e, e.tenant)) for i, e in enumerate(events)]
        messages.insert(4, record(99, (None, b"not an event", [])))
        engine = recharge.RechargeEngine(ledger, codec, producer=None)
        # The database goes away mid-batch: the runner is told it is a transient fault, and nothing is posted.
        with monkeypatch.context() as outage:
            outage.setattr(Books, "add_postings", lost)
            with pytest.raises(TRANSIENT):
                asyncio.run(engine.handle(messages))
        assert counts(db)["ledger_events"] == 0
        # The runner hands the batch over again, and again after a crash before its offsets were committed:
        # each charge is posted once, and the message that is no event is a dead letter each time.
        for _ in range(2):
            dead = asyncio.run(engine.handle(messages))
            assert [m.offset for m, _ in dead] == [99]
            assert counts(db)["ledger_events"] == 8
        assert sum(receivables(db).values()) == sum(Decimal(e.data["amount"]) for e in events)


def lost(*_):
    raise OperationalError("COPY", None, ConnectionError("server closed the connection"))


def record(offset: int, encoded) -> ConsumerRecord:
    key, value, headers = encoded
    return ConsumerRecord("finance.charges", 0, offset, 0, 0, key, value, None, -1, len(value), headers)


class TestIngestOnSQLite(OnSQLite, IngestContract):
    pass


class TestIngestOnPostgres(OnPostgres, IngestContract):
    def test_a_bulk_write_fails_as_the_database_errors_the_consumer_knows(self, ledger, db):
        """COPY raises SQLAlchemy's errors: a unique key is an IntegrityError, a lost server is transient."""
        row = {"event_id": str(uuid.uuid4()), "event_type": "x", "content_sha256": "x", "applied_at": datetime.now(UTC)}
        with db.begin() as c, pytest.raises(IntegrityError):
            Books(c).add_events([row, row])
        with db.connect() as c, db.connect() as admin:
            pid = c.execute(text("SELECT pg_backend_pid()")).scalar()
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            with pytest.raises(TRANSIENT):
                Books(c).add_events([row])


def test_the_digest_of_an_event_is_pinned():
    """Digests are stored: the same event must hash the same in every release."""
    event = codec.validate({
        "id": "6f1c0000-0000-4000-8000-000000000001", "source": "/hps/it", "type": "uk.hps.finance.charge.recorded",
        "time": "2026-10-01T09:00:00Z", "tenant": "council", "data": {
            "charge_id": "6f1c0000-0000-4000-8000-000000000002", "service": "it", "request_type": "laptop-provision",
            "quantity": "1", "unit_price": "850.00", "amount": "850.00", "cost_centre": "CC-1", "period": "2026-10",
            "description": "Laptop"}})
    assert content_hash(event) == PINNED
    assert content_hash(event.model_copy(update={"time": event.time.replace(hour=10)})) == PINNED


PINNED = "1fee08224c284871a6159a23dfd3a37b973193eedaa1c878cb73681152bc1eda"
