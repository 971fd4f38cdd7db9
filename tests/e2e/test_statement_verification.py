"""Statements anyone can verify, through the gateway: the published key checks a downloaded
statement offline and `hps finance verify` checks them all; once one is altered in the database,
the API refuses to serve it, verify and reconcile fail, and the others still verify."""

import json
import subprocess
import sys

from shared.db import engine
from tests.e2e.platform import ROOT, await_draft
from tests.e2e.test_finance_api import charged, completed_charge
from tests.e2e.test_finance_commands import hps
from tests.integration.test_statement_signatures import tamper

PERIOD = "2032-05"


def test_a_statement_altered_in_the_database_is_refused_and_found(platform, as_, postgres_url, tmp_path):
    finance, council = as_("dev-finance").http, as_("dev-council").http
    charge_id = completed_charge(as_, PERIOD)
    await_draft(finance, PERIOD, "council", lambda d: charged(d, charge_id))
    closed = finance.post(f"/v1/finance/periods/{PERIOD}/close")
    assert closed.status_code == 200, closed.text
    [number] = [s["number"] for s in closed.json()["statements"] if s["tenant"] == "council"]
    issued = len(closed.json()["statements"])

    # As issued: the partner downloads it and checks it offline with the key the gateway publishes.
    keys = council.get("/.well-known/hps-statement-keys.json")
    assert keys.status_code == 200 and keys.json()["keys"][0]["crv"] == "Ed25519", keys.text
    downloaded = council.get(f"/v1/finance/statements/{number}")
    assert downloaded.status_code == 200, downloaded.text
    signed = {"signature": downloaded.headers["hps-statement-signature"],
              "previous_signature": downloaded.headers["hps-statement-previous-signature"],
              "key_id": downloaded.headers["hps-statement-key-id"]}
    for name, content in (("statement.json", downloaded.content), ("signature.json", json.dumps(signed).encode()),
                          ("keys.json", keys.content)):
        (tmp_path / name).write_bytes(content)
    offline = subprocess.run([sys.executable, str(ROOT / "docs" / "verify_statement.py"), "statement.json",
                              "signature.json", "keys.json"], cwd=tmp_path, capture_output=True, text=True)
    assert offline.returncode == 0, offline.stdout + offline.stderr
    verified = hps(platform, "verify", PERIOD)
    assert verified.returncode == 0 and f"{issued} of {issued} statements verified" in verified.stdout, verified.stdout

    # Someone with the database's owner login lowers the council's statement, seal recomputed.
    db = engine(postgres_url)
    try:
        tamper(db, number, "1.00")
    finally:
        db.dispose()
    refused = council.get(f"/v1/finance/statements/{number}", params={"format": "pdf"})
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "statement_signature_invalid"
    found = hps(platform, "verify", PERIOD)
    assert found.returncode == 1, found.stdout + found.stderr
    assert f"{number}" in found.stdout and "BROKEN" in found.stdout and f"{issued - 1} of {issued} statements verified" in found.stdout
    report = finance.get(f"/v1/finance/periods/{PERIOD}/reconciliation").json()
    assert not report["balanced"] and [s["number"] for s in report["unverified_statements"]] == [number]
    assert hps(platform, "reconcile", PERIOD).returncode == 1
    # The other partners' statements of the month are served as ever.
    others = [s["number"] for s in closed.json()["statements"] if s["number"] != number]
    assert all(finance.get(f"/v1/finance/statements/{n}").status_code == 200 for n in others)
