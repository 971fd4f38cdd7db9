"""Finance commands and their outcomes against real databases, on SQLite and on PostgreSQL: what the
ledger refuses is kept and read back as the command's outcome, told once under a derived id, and
every tenant-filtered read is scoped to the tenant asked for."""

import json
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text

from services.finance.ledger import closing_queries
from services.finance.ledger import tables as t
from services.finance.ledger.closing import MonthEnd
from services.finance.ledger.engine import RechargeEngine
from services.finance.ledger.entries import Unpostable, refusal_id
from services.finance.ledger.outcome import outcome
from services.finance.ledger.repository import Books
from services.finance.ledger.signing import Signer
from shared.idempotency import Command, IdempotencyKeys, digest
from shared.topics import SHARED_COSTS
from tests.integration.ledger_databases import LedgerFixtures, OnPostgres, OnSQLite
from tests.integration.test_ledger import charge, codec, registry, shared_cost, withdrawal


def command(db, event, kind: str, subject: str) -> None:
    """What the finance API records for a command it published."""
    with db.begin() as c:
        Books(c).add_command({"command_id": str(event.id), "kind": kind, "subject": subject, "tenant": event.tenant,
                              "requested_by": "Finance officer", "requested_at": datetime.now(UTC),
                              "body": json.dumps(event.data)})


def read(db, event_id):
    with Books.reading(db) as books:
        found = books.command(str(event_id))
    return outcome(found, f"/v1/finance/commands/{event_id}") if found else None


class CommandsContract(LedgerFixtures):
    def test_a_command_is_pending_until_applied_then_says_what_was_posted(self, ledger, db):
        cost = shared_cost("18500.00", "sites")
        command(db, cost, "shared_cost", cost.data["cost_id"])
        command(db, cost, "shared_cost", cost.data["cost_id"])  # a retry records nothing more
        waiting = read(db, cost.id)
        assert (waiting.state, waiting.resource["cost_id"], waiting.resource["requested_by"]) == \
            ("pending", cost.data["cost_id"], "Finance officer")
        ledger.apply(cost)
        done = read(db, cost.id)
        assert done.state == "applied" and done.http_status == 200
        assert done.resource["posted"] == {"cost_id": cost.data["cost_id"], "basis": "sites", "amount": "18500.00"}
        with db.connect() as c:
            assert c.execute(select(func.count()).select_from(t.commands)).scalar() == 1

    def test_an_idempotency_key_stands_for_its_first_body_and_event(self, ledger, db):
        keys = IdempotencyKeys(db, t.idempotency_keys)
        cost = shared_cost("18500.00", "sites")
        first = Command(SHARED_COSTS, "it", cost)
        assert keys.claim("finance", "wan-2026-10", digest('{"amount": "18500.00"}'), first) is None
        retry = Command(SHARED_COSTS, "it", shared_cost("18500.00", "sites"))  # the same body, a fresh event
        again = keys.claim("finance", "wan-2026-10", digest('{"amount": "18500.00"}'), retry)
        assert (again.state, again.command.event) == ("pending", cost)  # the retry publishes the first event
        keys.published("finance", "wan-2026-10")
        other = keys.claim("finance", "wan-2026-10", digest('{"amount": "99.00"}'), first)
        assert other.state == "published" and other.body_sha256 != digest('{"amount": "99.00"}')  # the API's 409

    def test_a_refused_correction_is_read_back_with_the_reason_and_the_owners_status(self, ledger, db):
        original = charge("hospital", "165.00")
        first = charge("hospital", "110.00", kind="correction", corrects=original.data["charge_id"])
        second = charge("hospital", "100.00", kind="correction", corrects=original.data["charge_id"])
        ledger.apply_all([original, first])
        command(db, second, "correction", original.data["charge_id"])
        with Books.reading(db) as books:
            assert books.pending_command(["correction"], original.data["charge_id"])["command_id"] == str(second.id)
        with pytest.raises(Unpostable):
            ledger.apply(second)
        refused = read(db, second.id)
        assert (refused.state, refused.http_status) == ("refused", 409)
        assert refused.error["code"] == "already_corrected"
        assert refused.error["corrected_by"] == first.data["charge_id"]
        assert "was corrected already" in refused.error["message"]
        assert refused.resource["error"] == refused.error and refused.resource["refused_at"]
        with Books.reading(db) as books:  # decided: no longer pending
            assert books.pending_command(["correction"], original.data["charge_id"]) is None
        # The correction that was applied says what it posted.
        command(db, first, "correction", original.data["charge_id"])
        applied = read(db, first.id)
        assert applied.resource["posted"]["corrects"] == original.data["charge_id"]
        assert applied.resource["posted"]["amount"] == "110.00"

    def test_any_event_applied_is_readable_by_its_id_command_or_not(self, ledger, db):
        # A worker's charge, and a correction put on the topic by other means than the finance API.
        work = charge("council", "45.00")
        fix = charge("council", "40.00", kind="correction", corrects=work.data["charge_id"])
        ledger.apply_all([work, fix])
        read_work, read_fix = read(db, work.id), read(db, fix.id)
        assert (read_work.state, read_work.resource["kind"], read_work.resource["subject"]) == \
            ("applied", "charge", work.data["charge_id"])
        assert read_work.resource["requested_by"] is None  # no finance command behind it
        assert (read_fix.resource["kind"], read_fix.resource["posted"]["corrects"]) == \
            ("correction", work.data["charge_id"])

    def test_a_workers_charge_the_ledger_refuses_is_readable_by_its_event_id(self, ledger, db):
        police = charge("police", "5.00")  # not a tenant until April 2027
        with pytest.raises(Unpostable, match="police is not a tenant until 2027-04-01"):
            ledger.apply(police)
        refused = read(db, police.id)
        assert (refused.state, refused.http_status, refused.resource["kind"]) == ("refused", 422, "charge")
        assert refused.error["code"] == "not_billable"
        assert refused.resource["subject"] == police.data["charge_id"]
        assert read(db, uuid.uuid4()) is None

    def test_a_refusal_is_told_once_under_an_id_derived_from_the_refused_event(self, ledger, db):
        unknown = withdrawal(shared_cost("10.00", "staff"))
        [first] = ledger.apply_all([unknown])
        [again] = ledger.apply_all([unknown])  # redelivered
        engine = RechargeEngine(ledger, codec, producer=None)
        told, retold = engine.refusal_event(unknown, first), engine.refusal_event(unknown, again)
        assert told.id == retold.id == refusal_id(unknown.id)
        assert told.data == retold.data
        assert (told.type, told.tenant, told.data["command_id"], told.data["code"]) == \
            ("uk.hps.finance.command-refused", "hps", str(unknown.id), "not_found")
        assert told.data["subject"] == unknown.data["cost_id"]
        with db.connect() as c:
            assert c.execute(select(func.count()).select_from(t.refusals)).scalar() == 1

    def test_refusals_withdrawals_and_commands_are_immutable(self, ledger, db):
        cost = shared_cost("10.00", "staff")
        ledger.apply(cost)
        ledger.apply(withdrawal(cost))
        command(db, cost, "shared_cost", cost.data["cost_id"])
        with pytest.raises(Unpostable):
            ledger.apply(withdrawal(cost))
        for statement in ("UPDATE ledger_refusals SET reason = 'x'", "DELETE FROM ledger_withdrawals",
                          "UPDATE ledger_commands SET requested_by = 'someone else'"):
            with pytest.raises(Exception, match="immutable"):
                with db.begin() as c:
                    c.execute(text(statement))

    def test_every_tenant_filtered_read_is_scoped_to_the_tenant_asked_for(self, ledger, db):
        ledger.apply_all([charge("council", "850.00"), charge("ccg", "45.00"), shared_cost("300.00", "staff")])
        month_end = MonthEnd(db, registry, Signer.generated())
        issued = {s["tenant"]["code"]: s for s in month_end.close("2026-10", "finance")}
        with Books.reading(db) as books:
            assert [s.tenant for s in closing_queries.issued(books.c, None, "ccg")] == ["ccg"]
            assert len(closing_queries.issued(books.c, "2026-10", None)) == 3
            number = issued["council"]["statement_number"]
            assert closing_queries.stored(books.c, number, "ccg") is None  # another's is absent
            assert json.loads(closing_queries.stored(books.c, number, "council").body) == issued["council"]
            assert books.tenants_posted("2026-10", "ccg") == {"ccg"}
            assert {row["tenant"] for row in books.statement_lines("2026-10", "ccg")} == {"ccg"}
        drafted = month_end.preview("2026-10", "council")
        assert [s["tenant"]["code"] for s in drafted.statements] == ["council"]


class TestCommandsOnSQLite(OnSQLite, CommandsContract):
    pass


class TestCommandsOnPostgres(OnPostgres, CommandsContract):
    pass
