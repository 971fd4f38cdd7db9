"""Chaos: partners' requests are carried to completion and charged while a worker, the ledger and
the gateway are SIGKILLed at random and started again at once, as a supervisor would, and a
poisoned charge is slipped onto the ledger's topic. Afterwards every request the gateway accepted
was applied once and charged once, and every tenant's statement for the month adds up to the penny.

HPS_CHAOS_SECONDS sets how long the processes are killed for (default 30), HPS_CHAOS_SEED replays
one run's choices, HPS_CHAOS_CLIENTS sets how many partners' desks submit at once (default 4)."""

import asyncio
import json
import os
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial

import httpx
import pytest

from shared import ids
from shared.contracts import ChargeRecorded
from shared.events import EventCodec
from shared.tenants import Registry
from shared.topics import CHARGES, DEAD_LETTERS, SERVICES, events_topic
from tests.e2e.kafka_reading import events_of, read_all, read_until
from tests.e2e.platform import Client

SECONDS = float(os.environ.get("HPS_CHAOS_SECONDS", "30"))
SEED = int(os.environ.get("HPS_CHAOS_SEED") or random.SystemRandom().randrange(2**32))
CLIENTS = int(os.environ.get("HPS_CHAOS_CLIENTS", "4"))
PERIOD = "2034-05"  # this module's own month: nothing else charges it
# How long one request may take from submission to completion, kills included: a killed consumer's
# partitions wait out its session (about ten seconds) before the group hands them on.
JOURNEY_S = 90
SETTLE_S = 60  # for the ledger to post what the workers charged, once every process is back
MAX_GAP_S = 8  # at most this long between kills
RUSH, RUSH_EACH = 4, 5  # partners submitting as the gateway is killed, and at most how many requests each

PARTNERS = {"council": "dev-council", "ccg": "dev-ccg", "hospital": "dev-hospital"}
WORKERS = tuple(SERVICES)
PENNY = Decimal("0.01")
codec = EventCodec(Registry.load())


@dataclass(frozen=True)
class Priced:
    """A request type the way the catalogue prices it, worked out here rather than asked of the platform."""

    service: str
    request_type: str
    unit_price: Decimal | None = None  # fixed: quantity x unit price
    fee_percent: Decimal | None = None  # fee on value, at least the floor (below any approval threshold)
    floor: Decimal = Decimal(0)

    def measure(self, rng: random.Random) -> dict:
        if self.unit_price is not None:
            return {"quantity": rng.randint(1, 5)}
        return {"value": f"{rng.choice((3000, 4250, 6400, 9999)):.2f}"}

    def amount(self, delivered: dict) -> Decimal:
        if self.unit_price is not None:
            return self.unit_price * delivered["quantity"]
        return max(self.floor, (Decimal(delivered["value"]) * self.fee_percent / 100).quantize(PENNY))


# IT's prices are those the e2e fixture's catalogue gives; the others ship with each service.
MENU = (
    Priced("it", "account-setup", Decimal("45.00")),
    Priced("it", "laptop-provision", Decimal("850.00")),
    Priced("hr", "dbs-check", Decimal("38.00")),
    Priced("hr", "payroll-change", Decimal("12.00")),
    Priced("finance", "new-supplier", Decimal("25.00")),
    Priced("finance", "ap-invoice", Decimal("3.20")),
    # Orders up to 10,000.00 need no budget holder's approval.
    Priced("procurement", "purchase-order", fee_percent=Decimal("0.5"), floor=Decimal("15.00")),
)
STAFF = {service: f"dev-staff-{service}" for service in WORKERS}
# (action, the status it is taken from, the status it leads to); a request's version counts them.
STEPS = (("accept", "submitted", "accepted"), ("start", "accepted", "in_progress"),
         ("complete", "in_progress", "completed"))
LIFECYCLE = ("submitted", "accepted", "in_progress", "completed")


@dataclass
class Journey:
    tenant: str
    priced: Priced
    key: str
    delivered: dict
    request_id: str | None = None
    accepted: bool = False  # the gateway answered 202 to the submission
    completed_at: float | None = None  # monotonic
    shown_after_s: float | None = None  # from the 202 until the partner could read the request
    retries: Counter = field(default_factory=Counter)  # per call: repeated after a transport error or a 503

    @property
    def amount(self) -> Decimal:
        return self.priced.amount(self.delivered)


@dataclass
class Run:
    journeys: list[Journey] = field(default_factory=list)
    kills: list[tuple[float, str]] = field(default_factory=list)
    exits: list[tuple[float, str, int]] = field(default_factory=list)  # processes that ended by themselves
    recoveries: list[tuple[str, float]] = field(default_factory=list)  # seconds from a kill to /health 200
    failures: list[str] = field(default_factory=list)
    poison_at: tuple[int, int] | None = None  # (partition, offset) on finance.charges
    poisoned: float | None = None  # monotonic, once the poison was on the topic
    rushes: list[threading.Thread] = field(default_factory=list)
    planned: threading.Event = field(default_factory=threading.Event)  # every kill of the plan done
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, what: str) -> None:
        with self.lock:
            self.failures.append(what)


def patiently(what: str, call, deadline: float, journey: Journey | None = None) -> httpx.Response:
    """`call` until it is answered by a live service: a transport error (the process was killed
    under the call) or a 502/503 (it, or what it proxies, is not back yet) is tried again."""
    while True:
        try:
            response = call()
            if response.status_code not in (502, 503, 504):
                return response
            last, why = f"{response.status_code} {response.text[:300]}", str(response.status_code)
        except httpx.TransportError as exc:
            # Not connected: the process is down. Anything else: the call was sent and its answer lost.
            last, why = repr(exc), "down" if isinstance(exc, httpx.ConnectError) else "answer lost"
        if journey is not None:
            journey.retries[f"{what.split()[0]} ({why})"] += 1
        assert time.monotonic() < deadline, f"{what}: still failing when its time ran out; last: {last}"
        time.sleep(0.3)


def status_of(partner: Client, journey: Journey, deadline: float) -> dict | None:
    """The request as its partner sees it; None while the read model has not shown it yet."""
    response = patiently(f"GET {journey.request_id}", lambda: partner.get(journey.request_id), deadline, journey)
    if response.status_code == 404:
        return None
    assert response.status_code == 200, f"GET {journey.request_id}: {response.status_code} {response.text}"
    return response.json()


def client(platform, token: str) -> Client:
    made = Client(platform.url, token)
    made.http.timeout = httpx.Timeout(15)
    return made


def submit(partner: Client, journey: Journey, deadline: float) -> None:
    """Submit until the gateway answers 202: a submission whose answer was lost is retried under the
    same key, and names the same request; so does submitting it again after a 202."""
    requested = journey.priced.measure(random.Random(journey.key))
    submitted = patiently(f"submit {journey.key}", partial(
        partner.submit, journey.priced.service, journey.priced.request_type,
        headers={"Idempotency-Key": journey.key}, description=f"Chaos run {SEED}", **requested), deadline, journey)
    assert submitted.status_code == 202, f"submit {journey.key}: {submitted.status_code} {submitted.text}"
    assert submitted.json()["request_id"] == str(ids.derived(f"request/{journey.tenant}/{journey.key}"))
    assert journey.request_id in (None, submitted.json()["request_id"])
    journey.request_id = submitted.json()["request_id"]
    journey.accepted = True


def carry(platform, journey: Journey) -> None:
    """Submit the request and take it through accept, start and complete, whatever dies meanwhile."""
    deadline = time.monotonic() + JOURNEY_S
    partner, staff = client(platform, PARTNERS[journey.tenant]), client(platform, STAFF[journey.priced.service])
    try:
        submit(partner, journey, deadline)
        answered = time.monotonic()

        for action, before, after in STEPS:
            fields = {**journey.delivered, "period": PERIOD} if action == "complete" else {}
            moved = False  # a 202 means the command is on Kafka: from then on it is only a matter of waiting
            while True:
                view = status_of(partner, journey, deadline)
                status = view and view["status"]
                if view and journey.shown_after_s is None:
                    journey.shown_after_s = round(time.monotonic() - answered, 1)
                assert status in (None, *LIFECYCLE), f"{journey.request_id} went {status}: {view}"
                if status is not None and LIFECYCLE.index(status) >= LIFECYCLE.index(after):
                    break
                if status == before and not moved:
                    # The worker decides; a try whose answer was lost may be refused by it as already
                    # applied: harmless.
                    answer = patiently(f"{action} {journey.request_id}",
                                       partial(staff.move, journey.request_id, action, **fields), deadline, journey)
                    assert answer.status_code == 202, (
                        f"{action} {journey.request_id}: {answer.status_code} {answer.text}")
                    moved = answer.status_code == 202
                assert time.monotonic() < deadline, f"{journey.request_id} stuck at {status} on its way to {after}"
                time.sleep(0.2)
        journey.completed_at = time.monotonic()
    finally:
        partner.http.close()
        staff.http.close()


def new_journey(run: Run, rng: random.Random) -> Journey:
    priced = rng.choice(MENU)
    journey = Journey(rng.choice(list(PARTNERS)), priced, f"chaos-{SEED}-{uuid.UUID(int=rng.getrandbits(128))}",
                      priced.measure(rng))
    with run.lock:
        run.journeys.append(journey)
    return journey


def take(platform, run: Run, journey: Journey) -> bool:
    """The partner's request carried to completion; False if it could not be."""
    try:
        carry(platform, journey)
        return True
    except Exception as exc:  # noqa: BLE001  (reported by the test, with every other failure)
        run.fail(f"{journey.tenant} {journey.priced.request_type} {journey.request_id or journey.key}: {exc!r}")
        return False


def desk(platform, run: Run, rng: random.Random, until: float) -> None:
    """One partner's desk: a request after another, until the chaos ends."""
    while time.monotonic() < until and take(platform, run, new_journey(run, rng)):
        pass


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


def health_url(platform, name: str) -> str:
    return {"gateway": platform.url, "finance.ledger": f"http://127.0.0.1:{platform.finance_port}",
            "ops": platform.ops_url}.get(name) or f"http://127.0.0.1:{platform.metrics_ports[name]}"


def recovery(platform, run: Run, name: str) -> None:
    """How long the process just restarted takes to serve /health 200 (reported, not asserted)."""
    killed = time.monotonic()
    try:
        platform.await_health(health_url(platform, name), name, timeout_s=JOURNEY_S)
    except RuntimeError:
        return
    with run.lock:
        run.recoveries.append((name, round(time.monotonic() - killed, 1)))


def await_all_healthy(platform) -> None:
    """Every process back and each of its consumers running, as the next test module expects."""
    for name in platform.names:
        url = health_url(platform, name)
        assert platform.processes[name].poll() is None, f"{name} exited; see {platform.state_dir}/{name}.log"
        platform.await_health(url, name, timeout_s=60)
        health = httpx.get(f"{url}/health", timeout=10).json()
        assert health["status"] == "ok" and all(c["state"] == "running" for c in health["consumers"]), health


def drafts(platform) -> dict[str, dict]:
    """Each tenant's draft statement for the test's month, from the finance API."""
    finance = Client(platform.url, "dev-finance")
    try:
        found = {}
        for tenant in PARTNERS:
            answer = patiently(f"preview {tenant}", partial(finance.http.get, f"/v1/finance/periods/{PERIOD}/preview",
                                                            params={"tenant": tenant}), time.monotonic() + 30)
            assert answer.status_code == 200, answer.text
            [found[tenant]] = answer.json()["statements"]
        return found
    finally:
        finance.http.close()


def charged_requests(draft: dict) -> Counter:
    return Counter(line["request_id"] for group in draft["direct_charges"] for line in group["lines"])


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
    run = Run()
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

    # 1. Every request the gateway accepted reached completed once, through one application of each step.
    accepted = [j for j in run.journeys if j.accepted]
    assert accepted and all(j.completed_at for j in accepted)
    ours = {j.request_id: j for j in accepted}
    observer = Client(platform.url, "dev-finance")
    refused = 0  # transitions sent twice, the second refused by the worker as no longer legal
    for journey in accepted:
        view = observer.get(journey.request_id).json()
        assert (view["status"], view["version"], view["tenant"]) == ("completed", 1 + len(STEPS), journey.tenant), view
        assert Decimal(view["amount"]) == journey.amount, (view, journey.delivered)
        refused += view["last_refusal"] is not None
    observer.http.close()
    completions = defaultdict(set)
    for event in events_of(asyncio.run(read_all(platform.bootstrap, *(events_topic(s) for s in WORKERS)))):
        if event.type.endswith(".request.changed") and event.data["request_id"] in ours \
                and event.data["status"] == "completed":
            completions[event.data["request_id"]].add(event.id)
    twice = {rid: ids for rid, ids in completions.items() if len(ids) != 1}
    assert not twice and set(completions) == set(ours), f"completed more than once (or never): {twice}"

    # 2. The ledger holds one charge per completed request, and each tenant's month adds up to the penny.
    expected = {tenant: Decimal("0.00") for tenant in PARTNERS}
    for journey in accepted:
        expected[journey.tenant] += journey.amount
    deadline = time.monotonic() + SETTLE_S
    while True:
        statements = drafts(platform)
        posted = sum(sum(charged_requests(draft).values()) for draft in statements.values())
        if posted >= len(ours):
            break
        assert time.monotonic() < deadline, f"the ledger posted {posted} of {len(ours)} charges in {SETTLE_S}s"
        time.sleep(0.5)
    for tenant, draft in statements.items():
        charged = charged_requests(draft)
        doubled = {rid: n for rid, n in charged.items() if n != 1}
        assert not doubled, f"{tenant}: charged more than once: {doubled}"
        assert set(charged) == {j.request_id for j in accepted if j.tenant == tenant}, tenant
        for group in draft["direct_charges"]:
            for line in group["lines"]:
                assert Decimal(line["amount"]) == ours[line["request_id"]].amount, line
        totals = draft["totals"]
        assert Decimal(totals["direct_charges"]) == expected[tenant], (tenant, totals, expected[tenant])
        assert Decimal(totals["total"]) == expected[tenant], (tenant, totals)

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
