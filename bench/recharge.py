"""Stages 5 and 6, through bench/ledger.py's own functions: the recharge engine applying charges to
the ledger on PostgreSQL and on SQLite beside a raw aiokafka consumer of the same topic, then the
close of a period of a million charges on PostgreSQL. The engine runs inside this process, so its
CPU shows as "bench"."""

import tempfile

from bench import ledger
from bench.platform import Platform
from bench.producing import fresh_topic
from bench.report import Row

RATE_TARGET, SHARE_TARGET = 20_000, 0.5
CLOSE_TARGET_S, CLOSE_TARGET_CHARGES = 10.0, 1_000_000


async def measure_ledger(platform: Platform, charges: int) -> list[Row]:
    bootstrap = platform.bootstrap
    topic = fresh_topic(bootstrap, "charges")
    await ledger.produce(bootstrap, topic, charges)
    raw = await ledger.raw_rate(bootstrap, topic, charges)
    reference = f"raw aiokafka consumer, same topic: {raw:,.0f} events/s"
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for engine, url in (("PostgreSQL", platform.databases.new()), ("SQLite", f"sqlite:///{folder}/ledger.db")):
            usage = platform.usage(f"ledger-{engine}", "bench").start()
            rate = await ledger.ledger_rate(bootstrap, topic, charges, url)
            usage.stop()
            on_postgres = engine == "PostgreSQL"
            rows.append(Row(
                f"5. recharge engine → ledger on {engine}, {charges:,} charges", f"{rate:,.0f} charges/s", reference,
                rate / raw, f"≥ {RATE_TARGET:,} charges/s and ≥ {SHARE_TARGET:.0%} of raw" if on_postgres
                else "—",
                rate >= RATE_TARGET and rate / raw >= SHARE_TARGET if on_postgres else None,
                usage.busiest(charges, "charge")))
    return rows


def measure_close(platform: Platform, charges: int) -> list[Row]:
    usage = platform.usage("close", "bench").start()
    loaded_s, closing_s = ledger.close_time(platform.databases.new(), charges)
    usage.stop()
    full_size = charges >= CLOSE_TARGET_CHARGES
    return [Row(f"6. close of a period of {charges:,} charges on PostgreSQL", f"{closing_s:,.1f} s",
                f"no raw client; the bulk load before it: {loaded_s:,.0f} s", None,
                f"≤ {CLOSE_TARGET_S:.0f} s for {CLOSE_TARGET_CHARGES:,} charges",
                closing_s <= CLOSE_TARGET_S if full_size else None,
                f"{usage.busiest(charges, 'charge')} (bulk load and close together)")]
