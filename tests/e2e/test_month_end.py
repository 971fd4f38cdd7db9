"""A month end as finance lives it: a simulated month, shared costs, close, statements, reconcile."""

import asyncio
import csv
import io
import subprocess
import sys
import time
import uuid
from decimal import Decimal

import httpx
from pypdf import PdfReader
from sqlalchemy import create_engine, func, select

from services.finance.ledger import tables as t
from shared.events import EventCodec, InvalidEvent
from shared.kafka import bus
from shared.tenants import Registry
from shared.topics import CHARGES, SERVICES, SHARED_COSTS, requests_topic
from tests.e2e.kafka_reading import await_group_past, read_all
from tests.e2e.platform import ROOT

codec = EventCodec(Registry.load())


def hps(platform, *args, token="dev-finance") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "services.cli.main", *args], cwd=ROOT, capture_output=True,
                          text=True, env={**platform.env, "HPS_TOKEN": token}, timeout=600)


async def test_a_simulated_month_closes_into_statements_that_reconcile(platform, as_):
    period = "2026-06"
    run = hps(platform, "simulate", "--period", period, "--requests", "60")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Statement HPS-202606-" in run.stdout

    # Every charge and shared cost of the period, read from Kafka itself.
    def of_period(messages):  # by id: a resent event is the same event
        events = {}
        for message in messages:
            try:
                event = codec.decode(message.value, message.headers)
            except InvalidEvent:  # what other tests slipped onto the topic
                continue
            if event.data.get("period") == period:
                events[event.id] = event
        return list(events.values())
    charges = of_period(await read_all(platform.bootstrap, "finance.charges"))
    costs = of_period(await read_all(platform.bootstrap, "finance.shared-costs"))
    assert len(costs) == 6 and {c.tenant for c in charges} == {"council", "ccg", "hospital"}

    finance = as_("dev-finance").http
    statements = [finance.get(f"/v1/finance/statements/{s['number']}").json()
                  for s in finance.get("/v1/finance/statements", params={"period": period}).json()]
    assert [s["tenant"]["code"] for s in statements] == ["ccg", "council", "hospital"]
    assert sum(Decimal(s["totals"]["total"]) for s in statements) == \
        sum(Decimal(e.data["amount"]) for e in charges + costs)
    for s in statements:
        lines = [Decimal(x["amount"]) for g in s["direct_charges"] for x in g["lines"]]
        lines += [Decimal(x["share"]) for x in s["shared_costs"]]
        lines += [Decimal(x["amount"]) for x in s["corrections"] + s["prior_period_adjustments"]]
        assert sum(lines, Decimal(0)) == Decimal(s["totals"]["total"])
        for x in (x for g in s["direct_charges"] for x in g["lines"]):  # traceable to its event and request
            assert x["event_id"] in {str(e.id) for e in charges}

    reconcile = hps(platform, "finance", "reconcile", period)
    assert reconcile.returncode == 0 and "balanced to the penny" in reconcile.stdout

    # Partners download their own statement, in every format, and never another's.
    council = next(s for s in statements if s["tenant"]["code"] == "council")
    ccg = next(s for s in statements if s["tenant"]["code"] == "ccg")
    partner = as_("dev-council").http
    assert partner.get(f"/v1/finance/statements/{council['statement_number']}").json() == council
    pdf = partner.get(f"/v1/finance/statements/{council['statement_number']}", params={"format": "pdf"})
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    for shown in (council["statement_number"], council["tenant"]["name"], council["totals"]["total"],
                  council["totals"]["shared_costs"]):
        assert shown in text, f"{shown} is not in the PDF"
    csv_text = partner.get(f"/v1/finance/statements/{council['statement_number']}", params={"format": "csv"}).text
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert {r["statement_number"] for r in rows} == {council["statement_number"]}
    lines = sum(Decimal(r["amount"]) for r in rows if r["section"] != "total")
    [total] = [Decimal(r["amount"]) for r in rows if r["section"] == "total" and r["item"] == "total"]
    assert lines == total == Decimal(council["totals"]["total"])
    assert partner.get(f"/v1/finance/statements/{ccg['statement_number']}").status_code == 404
    assert {s["tenant"] for s in partner.get("/v1/finance/statements").json()} == {"council"}

    # Issued means immutable: no second close.
    again = finance.post(f"/v1/finance/periods/{period}/close")
    assert again.status_code == 409 and again.json()["error"]["code"] == "period_closed"
    assert hps(platform, "finance", "close", period).returncode == 4  # refused

    # The same simulated month run again adds nothing: no request, charge, cost or statement.
    before = (finance.get(f"/v1/finance/periods/{period}").json(), finance.get("/v1/finance/statements").json(),
              request_ids(as_("dev-finance")))
    rerun = hps(platform, "simulate", "--period", period, "--requests", "60")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"{period} was closed already" in rerun.stdout
    # Whatever the rerun sent, every worker and then the ledger have handled it (payroll goes through HR).
    for service in SERVICES:
        await await_group_past(platform.bootstrap, f"hps-{service}", requests_topic(service))
    for topic in (CHARGES, SHARED_COSTS):
        await await_group_past(platform.bootstrap, "hps-finance-ledger", topic)
    after = (finance.get(f"/v1/finance/periods/{period}").json(), finance.get("/v1/finance/statements").json(),
             request_ids(as_("dev-finance")))
    assert after == before


def request_ids(client) -> list[str]:
    """Every request the client may see, following the cursor."""
    ids, params = [], {"limit": 200}
    while True:
        page = client.http.get("/v1/requests", params=params)
        assert page.status_code == 200, page.text
        ids += [r["request_id"] for r in page.json()["items"]]
        if not page.json()["next_cursor"]:
            return sorted(ids)
        params["cursor"] = page.json()["next_cursor"]


def applied(platform, period: str) -> int:
    return httpx.get(f"{platform.url}/v1/finance/periods/{period}",
                     headers={"Authorization": "Bearer dev-finance"}).json()["charges"]


async def test_a_sigkilled_ledger_applies_every_charge_exactly_once(platform, postgres_url):
    period, count = "2025-01", 3000
    # A fresh ledger is the one killed: the one stopped here exits cleanly, so coverage keeps what it ran.
    platform.stop("finance.ledger")
    platform.start("finance.ledger")
    platform.await_health(f"http://127.0.0.1:{platform.finance_port}", "finance.ledger")
    events = [codec.build("uk.hps.finance.charge.recorded", "/hps/it", tenant, {
        "charge_id": str(uuid.uuid4()), "service": "it", "request_type": "account-setup", "quantity": "1",
        "unit_price": f"{i % 97 + 1}.{i % 100:02d}", "amount": f"{i % 97 + 1}.{i % 100:02d}", "cost_centre": "CC-1",
        "period": period, "description": f"charge {i}"}) for i, tenant in
        zip(range(count), ["council", "ccg", "hospital"] * count)]
    producer = bus.producer(platform.bootstrap, linger_ms=5)
    await producer.start()
    sends = []
    for event in events:
        key, value, headers = codec.encode(event, event.tenant)
        sends.append(await producer.send("finance.charges", value, key=key, headers=headers))
    await asyncio.gather(*sends)
    await producer.stop()

    # Kill the ledger mid-stream, without a chance to commit or clean up.
    deadline = time.monotonic() + 120
    while applied(platform, period) < count // 10:
        assert time.monotonic() < deadline, "the ledger is not applying charges"
        await asyncio.sleep(0.05)
    platform.stop("finance.ledger", kill=True)
    platform.start("finance.ledger")
    platform.await_health(f"http://127.0.0.1:{platform.finance_port}", "finance.ledger")

    deadline = time.monotonic() + 300
    while applied(platform, period) < count:
        assert time.monotonic() < deadline, f"{applied(platform, period)} of {count} charges applied"
        await asyncio.sleep(0.5)
    await await_group_past(platform.bootstrap, "hps-finance-ledger", "finance.charges")  # all of it handled

    db = create_engine(postgres_url)
    ids = [str(e.id) for e in events]
    with db.connect() as c:
        assert c.execute(select(func.count()).select_from(t.events).where(t.events.c.event_id.in_(ids))).scalar() == count
        assert c.execute(select(func.count()).select_from(t.postings).where(t.postings.c.event_id.in_(ids))).scalar() \
            == 2 * count
        debits = c.execute(select(func.sum(t.postings.c.debit)).where(t.postings.c.original_period == period)).scalar()
    db.dispose()
    assert debits == sum(Decimal(e.data["amount"]) for e in events)
