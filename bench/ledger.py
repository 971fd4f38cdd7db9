"""Ledger benchmark: charges applied per second on SQLite and PostgreSQL beside a raw aiokafka
consumer on the same topic, the batch path alone (no Kafka), and the time to close a period of a
million charges.

    .venv/bin/python -m bench.ledger [--charges 20000] [--close-charges 1000000]

Uses HPS_KAFKA_BOOTSTRAP when set, else starts a local broker in a temporary folder, and the
machine's PostgreSQL through deploy/postgres-local.sh. Prints figures; asserts nothing.
"""

import argparse
import asyncio
import os
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from deploy.kafka_local import LocalKafka
from services.finance.ledger.book import Ledger
from services.finance.ledger.closing import MonthEnd
from services.finance.ledger.engine import MAX_RECORDS, RechargeEngine
from services.finance.ledger.repository import Books
from services.finance.ledger.schema import upgrade
from services.finance.ledger.signing import Signer
from shared.contracts.names import CHARGE_RECORDED as CHARGE
from shared.db import engine as make_engine
from shared.events import EventCodec
from shared.kafka import bus
from shared.logging import configure
from shared.tenants import Registry
from shared.topics import Topic
from tests.conftest import free_ports

ROOT = Path(__file__).resolve().parents[1]
registry = Registry.load()
codec = EventCodec(registry)
TENANTS = ("council", "ccg", "hospital")


def charge_data(i: int, period: str) -> dict[str, str]:
    amount = f"{i % 500 + 1}.{i % 100:02d}"
    return {"charge_id": str(uuid.uuid4()), "service": "it", "request_type": "account-setup", "quantity": "1",
            "unit_price": amount, "amount": amount, "cost_centre": "CC-1", "period": period,
            "request_id": str(uuid.uuid4()), "description": f"bench {i}"}


def charge_event(i: int, period: str):
    return codec.build(CHARGE, "/hps/it", TENANTS[i % 3], charge_data(i, period))


async def produce(bootstrap: str, topic: str, count: int) -> float:
    """Events per second through the project's producer path: each event built and validated, then
    encoded and sent by `bus.publish_all`. The data is made beforehand, as the raw producer's bytes are."""
    data = [charge_data(i, "2026-10") for i in range(count)]
    producer = bus.producer(bootstrap, linger_ms=10)
    await producer.start()
    started = time.perf_counter()
    await bus.publish_all(producer, codec, ((topic, TENANTS[i % 3], codec.build(CHARGE, "/hps/it", TENANTS[i % 3], d))
                                            for i, d in enumerate(data)))
    await producer.stop()
    return count / (time.perf_counter() - started)


async def raw_rate(bootstrap: str, topic: str, count: int) -> float:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"bench-raw-{uuid.uuid4().hex[:6]}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    seen, started = 0, time.perf_counter()
    while seen < count:
        for records in (await consumer.getmany(timeout_ms=500, max_records=500)).values():
            seen += len(records)
        await consumer.commit()
    elapsed = time.perf_counter() - started
    await consumer.stop()
    return count / elapsed


async def ledger_rate(bootstrap: str, topic: str, count: int, url: str) -> float:
    db = make_engine(url)
    upgrade(db)
    producer = bus.producer(bootstrap)
    await producer.start()
    recharge = RechargeEngine(Ledger(db, registry), codec, producer)
    runner = recharge.runner(bootstrap, topics=(topic,), group=f"bench-ledger-{uuid.uuid4().hex[:6]}")
    applied, stopping = 0, asyncio.Event()
    original = runner.handle

    async def counting(messages):
        nonlocal applied
        refused = await original(messages)
        applied += len(messages)
        if applied >= count:
            stopping.set()
        return refused

    runner.handle = counting
    started = time.perf_counter()
    try:
        await runner.run(stopping)
    finally:
        await producer.stop()
    elapsed = time.perf_counter() - started
    db.dispose()
    return count / elapsed


def batch_rate(url: str, count: int, size: int = MAX_RECORDS) -> float:
    """The fast path alone: `Ledger.apply_all` on batches of plain charges, as big as the engine fetches them."""
    db = make_engine(url)
    upgrade(db)
    ledger = Ledger(db, registry)
    events = [charge_event(i, "2026-10") for i in range(count)]
    started = time.perf_counter()
    for start in range(0, count, size):
        ledger.apply_all(events[start:start + size])
    elapsed = time.perf_counter() - started
    db.dispose()
    return count / elapsed


def close_time(url: str, count: int) -> tuple[float, float]:
    """Bulk-load `count` applied charges straight into the tables, then time the close."""
    db = make_engine(url)
    upgrade(db)
    period, now, batch = "2026-11", datetime.now(UTC), 20_000
    loaded = time.perf_counter()
    with db.begin() as c:
        for start in range(0, count, batch):
            events, charges, postings = [], [], []
            for i in range(start, min(count, start + batch)):
                event_id, charge_id, tenant = str(uuid.uuid4()), str(uuid.uuid4()), TENANTS[i % 3]
                amount = Decimal(f"{i % 500 + 1}.{i % 100:02d}")
                events.append({"event_id": event_id, "event_type": CHARGE, "content_sha256": "bench", "applied_at": now})
                charges.append({"charge_id": charge_id, "event_id": event_id, "tenant": tenant, "billed_tenant": tenant,
                                "service": "it", "request_type": "account-setup", "kind": "request", "quantity": 1,
                                "unit_price": amount, "amount": amount, "cost_centre": "CC-1", "period": period,
                                "request_id": str(uuid.uuid4()), "description": f"bench {i}", "corrects": None,
                                "amount_set_by_hand": False})
                common = {"event_id": event_id, "source": "charge", "source_id": charge_id, "service": "it",
                          "period": period, "original_period": period, "basis": None, "exact_share": None,
                          "posted_at": now, "tenant": tenant, "for_tenant": tenant}
                postings += [{**common, "account": f"receivable:{tenant}", "debit": amount, "credit": 0},
                             {**common, "account": "income:it", "debit": 0, "credit": amount}]
            books = Books(c)  # the ledger's own writes: COPY on PostgreSQL
            books.add_events(events)
            books.add_charges(charges)
            books.add_postings(postings)
    loaded = time.perf_counter() - loaded
    started = time.perf_counter()
    MonthEnd(db, registry, Signer.generated()).close(period, "bench")
    closing = time.perf_counter() - started
    db.dispose()
    return loaded, closing


class Databases:
    """New, empty databases on the machine's PostgreSQL (deploy/postgres-local.sh), one per measure and
    dropped at the end, so that runs side by side never share one."""

    def __init__(self):
        self.admin: str | None = None
        self.names: list[str] = []

    def fresh(self) -> str:
        if self.admin is None:
            self.admin = subprocess.run(["bash", str(ROOT / "deploy" / "postgres-local.sh")], check=True,
                                        capture_output=True, text=True).stdout.strip().splitlines()[-1]
        self.names.append(f"hps_bench_ledger_{uuid.uuid4().hex[:8]}")
        self._server(f'CREATE DATABASE "{self.names[-1]}"')
        return make_url(self.admin).set(database=self.names[-1]).render_as_string(hide_password=False)

    def drop(self) -> None:
        while self.names:
            self._server(f'DROP DATABASE IF EXISTS "{self.names.pop()}" WITH (FORCE)')

    def _server(self, statement: str) -> None:
        server = create_engine(self.admin, isolation_level="AUTOCOMMIT")
        with server.connect() as c:
            c.execute(text(statement))
        server.dispose()


async def main(charges: int, close_charges: int, bootstrap: str | None) -> None:
    broker, databases = None, Databases()
    if not bootstrap:
        broker = LocalKafka(Path(tempfile.mkdtemp(prefix="hps-bench-")), *free_ports(2))
        broker.start()
        bootstrap = broker.bootstrap
    try:
        topic = Topic(f"bench.charges-{uuid.uuid4().hex[:6]}", 6, -1, "benchmark")
        bus.ensure_topics(bootstrap, [topic])
        print(f"producing {charges} charges to {topic.name} (6 partitions) …")
        print(f"  producer (acks=all, idempotent)   {await produce(bootstrap, topic.name, charges):10,.0f} events/s")
        print(f"  raw aiokafka consumer            {await raw_rate(bootstrap, topic.name, charges):10,.0f} events/s")
        with tempfile.TemporaryDirectory() as folder:
            sqlite = f"sqlite:///{folder}/bench.db"
            print(f"  ledger on SQLite                 {await ledger_rate(bootstrap, topic.name, charges, sqlite):10,.0f} charges/s")
        pg = databases.fresh()
        print(f"  ledger on PostgreSQL             {await ledger_rate(bootstrap, topic.name, charges, pg):10,.0f} charges/s")
        with tempfile.TemporaryDirectory() as folder:
            print(f"  apply_all alone, SQLite          {batch_rate(f'sqlite:///{folder}/batch.db', charges):10,.0f} charges/s")
        print(f"  apply_all alone, PostgreSQL      {batch_rate(databases.fresh(), charges):10,.0f} charges/s")
        for name, url in (("SQLite", None), ("PostgreSQL", databases.fresh())):
            with tempfile.TemporaryDirectory() as folder:
                loaded, closing = close_time(url or f"sqlite:///{folder}/close.db", close_charges)
            print(f"close of {close_charges:,} charges on {name:<10} {closing:8.1f} s (bulk load {loaded:.0f} s)")
    finally:
        databases.drop()
        if broker:
            broker.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--charges", type=int, default=20_000)
    parser.add_argument("--close-charges", type=int, default=1_000_000)
    parser.add_argument("--bootstrap", default=None, help="an existing broker (default: HPS_KAFKA_BOOTSTRAP or local)")
    args = parser.parse_args()
    configure("WARNING")
    asyncio.run(main(args.charges, args.close_charges, args.bootstrap or os.environ.get("HPS_KAFKA_BOOTSTRAP")))
