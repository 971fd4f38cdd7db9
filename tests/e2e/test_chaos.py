"""Chaos: partners' requests are carried to completion and charged while a worker, the ledger and
the gateway are SIGKILLed at random and started again at once, as a supervisor would, and a
poisoned charge is slipped onto the ledger's topic. Afterwards every request the gateway accepted
was applied once and charged once, and every tenant's statement for the month adds up to the penny.

HPS_CHAOS_SECONDS sets how long the processes are killed for (default 20), HPS_CHAOS_SEED replays
one run's choices, HPS_CHAOS_CLIENTS sets how many partners' desks submit at once (default 4)."""

import asyncio
import json
import os
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx
import pytest

from shared.contracts import ChargeRecorded
from shared.events import EventCodec
from shared.tenants import Registry
from shared.topics import CHARGES, DEAD_LETTERS
from tests.e2e.journeys import (
    JOURNEY_S,
    PARTNERS,
    PERIOD,
    SETTLE_S,
    WORKERS,
    Run,
    client,
    desk,
    new_journey,
    submit,
    take,
    verify,
)
from tests.e2e.kafka_reading import read_until

SECONDS = float(os.environ.get("HPS_CHAOS_SECONDS", "20"))
SEED = int(os.environ.get("HPS_CHAOS_SEED") or random.SystemRandom().randrange(2**32))
CLIENTS = int(os.environ.get("HPS_CHAOS_CLIENTS", "4"))
MAX_GAP_S = 8  # at most this long between kills
RUSH, RUSH_EACH = 4, 5  # partners submitting as the gateway is killed, and at most how many requests each

codec = EventCodec(Registry.load())


@dataclass
class ChaosRun(Run):
    kills: list[tuple[float, str]] = field(default_factory=list)
    exits: list[tuple[float, str, int]] = field(default_factory=list)  # processes that ended by themselves
    recoveries: list[tuple[str, float]] = field(default_factory=list)  # seconds from a kill to /health 200
    poison_at: tuple[int, int] | None = None  # (partition, offset) on finance.charges
    poisoned: float | None = None  # monotonic, once the poison was on the topic
    rushes: list[threading.Thread] = field(default_factory=list)
    planned: threading.Event = field(default_factory=threading.Event)  # every kill of the plan done


def rush(platform, run: Run, rng: random.Random, killed: threading.Event) -> None:
    """Partners submitting back to back until the gateway is killed, so that it dies with submissions
    in hand: their answers are lost, each is retried under its key, and each request is then carried
    to completion like any other."""

    def submitting(tenant_rng: random.Random) -> None:
        journeys = []
        try:
            while not killed.is_set() and len(journeys) < RUSH_EACH:
                journeys.append(journey := new_journey(run, tenant_rng))
                partner = client(platform, PARTNERS[journey.tenant])
                try:
                    submit(partner, journey, time.monotonic() + JOURNEY_S)
                finally:
                    partner.http.close()
        except Exception as exc:  # noqa: BLE001  (reported by the test, with every other failure)
            run.fail(f"rush {journeys[-1].key}: {exc!r}")
            return
        for journey in journeys:
            take(platform, run, journey)

    for n in range(RUSH):
        thread = threading.Thread(target=submitting, args=(random.Random(rng.getrandbits(64)),),
                                  name=f"rush-{len(run.rushes)}-{n}")
        run.rushes.append(thread)
        thread.start()


def poisoned_charge() -> tuple[bytes, bytes, list]:
    """A charge for the council in the test's month, as a producer that skips validation would write
    it: a NUL in its description, which PostgreSQL cannot store."""
    data = ChargeRecorded(charge_id=uuid.uuid4(), service="it", request_type="laptop-provision", quantity=1,
                          unit_price="850.00", amount="850.00", cost_centre="ASC-100", period=PERIOD,
                          description="placeholder")
    event = codec.build("uk.hps.finance.charge.recorded", "/hps/it", "council", data)
    key, value, headers = codec.encode(event, "council")
    envelope = json.loads(value)
    envelope["data"]["description"] = "Lap\x00top"
    return key, json.dumps(envelope).encode(), headers


def schedule(rng: random.Random) -> list[tuple[float, str | None]]:
    """When (seconds into the run) to SIGKILL what: the gateway, the ledger and a worker at least once
    each, in random order, then whichever while the time lasts; None, half-way, is the poison."""
    owed = ["gateway", "finance.ledger", rng.choice(WORKERS)]
    rng.shuffle(owed)
    # A longer run kills more often, not further apart.
    gap = min(MAX_GAP_S, SECONDS / (len(owed) + 1))
    plan, at = [(SECONDS / 2, None)], 0.0
    while True:
        at += rng.uniform(0.4, 1.0) * gap
        if not owed and at > SECONDS - gap / 2:
            return sorted(plan, key=lambda step: step[0])
        plan.append((round(at, 1), owed.pop() if owed else rng.choice(("gateway", "finance.ledger", *WORKERS))))


def chaos(platform, run: Run, rng: random.Random, plan: list[tuple[float, str | None]], started: float,
          done: threading.Event) -> None:
    """Carry out the plan, each kill followed at once by a start; and, as a supervisor would, start
    again whatever exits by itself (a process whose consumer fails exits, by design), until `done`."""

    def supervise() -> None:
        for name, process in list(platform.processes.items()):
            if process.poll() is not None:
                with run.lock:
                    run.exits.append((round(time.monotonic() - started, 1), name, process.returncode))
                platform.processes.pop(name)
                platform.start(name)

    try:
        for at, name in plan:
            while time.monotonic() < started + at:
                supervise()
                time.sleep(min(0.5, max(0.0, started + at - time.monotonic())))
            if name is None:
                key, value, headers = poisoned_charge()
                run.poison_at = asyncio.run(platform.produce(CHARGES, value, key, headers))
                run.poisoned = time.monotonic()
                continue
            killed = threading.Event()
            if name == "gateway":
                rush(platform, run, rng, killed)
                time.sleep(rng.uniform(0.05, 0.3))
            platform.stop(name, kill=True)
            killed.set()
            platform.start(name)
            with run.lock:
                run.kills.append((round(time.monotonic() - started, 1), name))
            threading.Thread(target=recovery, args=(platform, run, name), daemon=True).start()
        run.planned.set()
        while not done.wait(0.5):
            supervise()
    except Exception as exc:  # noqa: BLE001  (reported by the test, with every other failure)
        run.fail(f"chaos: {exc!r}")


def recovery(platform, run: Run, name: str) -> None:
    """How long the process just restarted takes to serve /health 200 (reported, not asserted)."""
    killed = time.monotonic()
    try:
        platform.await_health(platform.health_url(name), name, timeout_s=JOURNEY_S)
    except RuntimeError:
        return
    with run.lock:
        run.recoveries.append((name, round(time.monotonic() - killed, 1)))


def await_all_healthy(platform) -> None:
    """Every process back and each of its consumers running, as the next test module expects."""
    for name in platform.names:
        url = platform.health_url(name)
        assert platform.processes[name].poll() is None, f"{name} exited; see {platform.state_dir}/{name}.log"
        platform.await_health(url, name, timeout_s=60)
        health = httpx.get(f"{url}/health", timeout=10).json()
        assert health["status"] == "ok" and all(c["state"] == "running" for c in health["consumers"]), health


# The suite's five minutes a test, or more for a longer run; the platform starts in the first test's time.
@pytest.mark.timeout(max(300, int(SECONDS + JOURNEY_S + SETTLE_S + 120)))
def test_killed_processes_lose_nothing_and_double_nothing(platform):
    # Stopped gracefully first, so what the processes measured for the earlier tests (coverage) is
    # written before SIGKILLs take the processes; the chaos starts on fresh ones.
    platform.stop_all()
    platform.start_all()
    print(f"chaos seed {SEED} (HPS_CHAOS_SEED={SEED} replays its choices), {SECONDS}s, {CLIENTS} desks")
    rng = random.Random(SEED)
    plan = schedule(rng)
    print(f"plan (seconds in, process; None is the poison): {plan}")
    run = ChaosRun()
    started = time.monotonic()
    until = started + SECONDS
    desks = [threading.Thread(target=desk, args=(platform, run, random.Random(rng.getrandbits(64)), until),
                              name=f"desk-{n}") for n in range(CLIENTS)]
    done = threading.Event()
    supervisor = threading.Thread(target=chaos, args=(platform, run, random.Random(rng.getrandbits(64)), plan, started,
                                                      done), name="chaos")
    try:
        for thread in (*desks, supervisor):
            thread.start()
        for thread in desks:
            thread.join(max(0.0, until + JOURNEY_S + 10 - time.monotonic()))
            assert not thread.is_alive(), f"{thread.name} still carrying a request {JOURNEY_S}s after the chaos"
        assert run.planned.wait(max(0.0, until + 30 - time.monotonic())), f"the plan not carried out: {run.kills}"
        for thread in run.rushes:
            thread.join(max(0.0, until + JOURNEY_S + 10 - time.monotonic()))
            assert not thread.is_alive(), f"{thread.name} still carrying a request {JOURNEY_S}s after the chaos"
    finally:
        done.set()
        supervisor.join(60)
        # The processes are shared with the modules after this one: back and healthy, whatever happened.
        for name in platform.names:
            if name not in platform.processes:
                platform.start(name)
        await_all_healthy(platform)
    chaos_s = time.monotonic() - started
    killed = Counter(name for _, name in run.kills)
    retried = sum((j.retries for j in run.journeys), Counter())
    shown = sorted(j.shown_after_s for j in run.journeys if j.shown_after_s is not None)
    if shown:
        print(f"a request showed {shown[len(shown) // 2]}s (median), {shown[-1]}s (slowest) after its 202")
    print(f"{len(run.journeys)} requests, calls retried {dict(retried)}, kills {run.kills}, "
          f"back healthy after (s) {run.recoveries}, exited by themselves {run.exits}, all done in {chaos_s:.0f}s")
    assert not run.failures, "\n".join(run.failures)
    assert killed["gateway"] and killed["finance.ledger"] and any(killed[w] for w in WORKERS), run.kills
    assert run.poison_at is not None

    ours, expected, refused = verify(platform, run)
    accepted = ours.values()

    # 3. The poisoned charge is a dead letter with its reason, and was never posted (the totals say so);
    # the ledger went on posting the charges behind it.
    assert any(j.completed_at > run.poisoned for j in accepted), "nothing was charged after the poison"
    partition, offset = run.poison_at

    def poison(messages) -> list[str]:
        reasons = []
        for m in messages:
            h = {k: v.decode() for k, v in m.headers if k.startswith("hps_dlq_")}
            if (h.get("hps_dlq_topic"), h.get("hps_dlq_partition"), h.get("hps_dlq_offset")) == (
                    CHARGES, str(partition), str(offset)):
                reasons.append(h["hps_dlq_reason"])
        return reasons

    reasons = poison(asyncio.run(read_until(platform.bootstrap, DEAD_LETTERS, poison, timeout_s=30)))
    assert all("data.description" in r and "U+0000" in r for r in reasons), reasons
    print(f"{len(ours)} completed and charged once ({refused} with a repeated transition refused): "
          f"{ {t: str(a) for t, a in expected.items()} }; poison dead-lettered {len(reasons)}x")
