"""Issued statements are signed, each chained to its tenant's last: a statement changed in the
database, one removed, or one stripped of its signature is found by the checks and by reconcile,
on SQLite and PostgreSQL, even when whoever changed it recomputed the unkeyed seal."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from sqlalchemy import delete, select, update

from services.finance.ledger import closing_queries, signing, verification
from services.finance.ledger import tables as t
from services.finance.ledger.closing import MonthEnd
from services.finance.ledger.signing import Signer
from services.finance.ledger.statements import canonical
from tests.integration.ledger_databases import REGISTRY, LedgerFixtures, OnPostgres, OnSQLite
from tests.integration.test_ledger import charge

ROOT = Path(__file__).resolve().parents[2]
st = t.statements.c


def closed_months(ledger, month_end, months=("2026-10", "2026-11", "2026-12")) -> None:
    for month in months:
        ledger.apply(charge("council", "850.00", period=month))
        ledger.apply(charge("ccg", "45.00", period=month))
        month_end.close(month, "Finance officer")


def numbers(db, tenant: str) -> list[str]:
    with db.connect() as c:
        return list(c.execute(select(st.number).where(st.tenant == tenant).order_by(st.sequence)).scalars())


def unguarded(c) -> None:
    """The guard against changing issued statements lifted, as the tables' owner can."""
    if c.dialect.name == "postgresql":
        c.exec_driver_sql("ALTER TABLE ledger_statements DISABLE TRIGGER ledger_statements_immutable")
    else:
        for change in ("update", "delete"):
            c.exec_driver_sql(f"DROP TRIGGER IF EXISTS ledger_statements_no_{change}")


def tamper(db, number: str, amount: str) -> None:
    """As the tables' owner could: a line's amount changed, the totals and the unkeyed seal
    recomputed so that they agree, the stored digest too."""
    with db.begin() as c:
        unguarded(c)
        body = json.loads(c.execute(select(st.body).where(st.number == number)).scalar())
        body["direct_charges"][0]["lines"][0]["amount"] = amount
        body["direct_charges"][0]["amount"] = amount
        body["totals"] = {**body["totals"], "direct_charges": amount, "total": amount}
        del body["content_sha256"]
        body["content_sha256"] = hashlib.sha256(canonical(body).encode()).hexdigest()
        text = canonical(body)
        c.execute(update(t.statements).where(st.number == number).values(
            body=text, content_sha256=body["content_sha256"], body_sha256=signing.digest(text)))


class SignatureContract(LedgerFixtures):
    def test_every_issued_statement_verifies_and_follows_its_tenants_last(self, db, ledger, month_end):
        closed_months(ledger, month_end)
        with db.connect() as c:
            links = {link.number: link for link in closing_queries.links(c)}
            assert verification.problems(c, month_end.keys) == {}
        council = [links[n] for n in numbers(db, "council")]
        assert council[0].previous_signature == ""
        assert [s.previous_signature for s in council[1:]] == [s.signature for s in council[:-1]]
        assert month_end.reconcile("2026-11").balanced

    def test_a_statement_changed_in_the_database_is_found_and_reconcile_fails(self, db, ledger, month_end):
        closed_months(ledger, month_end)
        changed = numbers(db, "council")[1]
        tamper(db, changed, "8.50")
        with db.connect() as c:
            assert verification.problems(c, month_end.keys, "2026-11") == {
                changed: "its signature does not match its content"}
            # Changing the body without the digest is found as well.
            unguarded(c)
            c.execute(update(t.statements).where(st.number == changed).values(body_sha256=None))
        report = month_end.reconcile("2026-11")
        assert not report.balanced and changed in report.unverified
        assert month_end.reconcile("2026-10").balanced  # the month before is as issued

    def test_a_removed_statement_breaks_the_chain(self, db, ledger, month_end):
        closed_months(ledger, month_end)
        first, removed, after = numbers(db, "council")
        with db.begin() as c:
            unguarded(c)
            c.execute(delete(t.statements).where(st.number == removed))
            found = verification.problems(c, month_end.keys)
        assert "missing" in found[after] or "does not follow" in found[after]
        assert first not in found

    def test_a_statement_stripped_of_its_signature_is_found(self, db, ledger, month_end):
        closed_months(ledger, month_end)
        stripped = numbers(db, "ccg")[2]
        with db.begin() as c:
            unguarded(c)
            c.execute(update(t.statements).where(st.number == stripped).values(signature=None))
            assert "not signed" in verification.problems(c, month_end.keys)[stripped]

    def test_another_key_does_not_verify_them(self, db, ledger, month_end):
        closed_months(ledger, month_end, ("2026-10",))
        with db.connect() as c:
            other = Signer.generated()
            issued = set(c.execute(select(st.number)).scalars())
            assert len(issued) >= 2 and set(verification.problems(c, {other.kid: other.public})) == issued

    def test_the_chain_goes_on_across_ledger_restarts_with_the_same_key(self, db, ledger, month_end):
        closed_months(ledger, month_end, ("2026-10",))
        again = MonthEnd(db, REGISTRY, month_end.signer)
        closed_months(ledger, again, ("2026-11",))
        with db.connect() as c:
            assert verification.problems(c, again.keys) == {}

    def test_a_partner_verifies_a_downloaded_statement_offline(self, db, ledger, month_end, tmp_path):
        closed_months(ledger, month_end, ("2026-10",))
        [number] = numbers(db, "council")
        with db.connect() as c:
            row = c.execute(select(t.statements).where(st.number == number)).mappings().one()
        (tmp_path / "statement.json").write_text(row["body"])
        (tmp_path / "keys.json").write_text(json.dumps(month_end.signer.jwks()))
        (tmp_path / "signature.json").write_text(json.dumps(
            {k: row[k] for k in ("signature", "previous_signature", "key_id")}))
        script = [sys.executable, str(ROOT / "docs" / "verify_statement.py"), "statement.json", "signature.json",
                  "keys.json"]
        verified = subprocess.run(script, cwd=tmp_path, capture_output=True, text=True)
        assert verified.returncode == 0 and "verified" in verified.stdout, verified.stdout + verified.stderr
        (tmp_path / "statement.json").write_text(row["body"].replace('"850.00"', '"85.00"', 1))
        refused = subprocess.run(script, cwd=tmp_path, capture_output=True, text=True)
        assert refused.returncode == 1 and "NOT" in refused.stdout, refused.stdout + refused.stderr


class TestOnSQLite(OnSQLite, SignatureContract):
    pass


class TestOnPostgres(OnPostgres, SignatureContract):
    pass
