"""Partners' requests carried from submission to completion through the API, whatever dies under
them, and the checks that each was applied once, in order, and charged once to the penny: the
driver of the tests that kill processes and brokers under load."""

import asyncio
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial

import httpx

from shared import ids
from shared.topics import SERVICES, events_topic
from tests.e2e.kafka_reading import events_of, read_all
from tests.e2e.platform import Client

PERIOD = "2034-05"  # the month a run's requests are charged to, unless it names its own: nothing else charges it
# How long one request may take from submission to completion, kills included: a killed consumer's
# partitions wait out its session (about ten seconds) before the group hands them on.
JOURNEY_S = 90
SETTLE_S = 60  # for the ledger to post what the workers charged, once every process is back
PARTNERS = {"council": "dev-council", "ccg": "dev-ccg", "hospital": "dev-hospital"}
WORKERS = tuple(SERVICES)
PENNY = Decimal("0.01")


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
    began: float = field(default_factory=time.monotonic)
    period: str = PERIOD  # the month its charge is for

    @property
    def amount(self) -> Decimal:
        return self.priced.amount(self.delivered)


@dataclass
class Run:
    """The journeys of a run, and what went wrong with them, from many threads."""

    journeys: list[Journey] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    period: str = PERIOD  # a month of the run's own: the checks compare the whole month with its journeys
    menu: tuple[Priced, ...] = MENU  # what the desks ask for

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
        headers={"Idempotency-Key": journey.key}, description=f"Journey {journey.key}", **requested), deadline, journey)
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
            fields = {**journey.delivered, "period": journey.period} if action == "complete" else {}
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
    priced = rng.choice(run.menu)
    journey = Journey(rng.choice(list(PARTNERS)), priced, f"journey-{uuid.UUID(int=rng.getrandbits(128))}",
                      priced.measure(rng), period=run.period)
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


def drafts(platform, period: str) -> dict[str, dict]:
    """Each tenant's draft statement for `period`, from the finance API."""
    finance = Client(platform.url, "dev-finance")
    try:
        found = {}
        for tenant in PARTNERS:
            answer = patiently(f"preview {tenant}", partial(finance.http.get, f"/v1/finance/periods/{period}/preview",
                                                            params={"tenant": tenant}), time.monotonic() + 30)
            assert answer.status_code == 200, answer.text
            [found[tenant]] = answer.json()["statements"]
        return found
    finally:
        finance.http.close()


def charged_requests(draft: dict) -> Counter:
    return Counter(line["request_id"] for group in draft["direct_charges"] for line in group["lines"])


def verify(platform, run: Run) -> tuple[dict, dict, int]:
    """Every request the gateway accepted was applied once, step by step in order, and charged once;
    each tenant's month adds up to the penny. Returns the requests by id, each tenant's total and how
    many repeated transitions the workers refused."""
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
    # On the events topics, each request's changes in the order they were made: an event told again
    # (the same id) is fine, a version told out of its turn or two events for one version are not.
    versions = defaultdict(list)
    for event in events_of(asyncio.run(read_all(platform.bootstrap, *(events_topic(s) for s in WORKERS)))):
        if event.type.endswith(".request.changed") and event.data["request_id"] in ours:
            told = versions[event.data["request_id"]]
            if (event.data["version"], event.id) not in told:
                told.append((event.data["version"], event.id))
    wrong = {rid: [v for v, _ in told] for rid, told in versions.items()
             if [v for v, _ in told] != list(range(1, 2 + len(STEPS)))}
    assert not wrong and set(versions) == set(ours), f"changes doubled, missing or out of order: {wrong}"

    # 2. The ledger holds one charge per completed request, and each tenant's month adds up to the penny.
    expected = {tenant: Decimal("0.00") for tenant in PARTNERS}
    for journey in accepted:
        expected[journey.tenant] += journey.amount
    deadline = time.monotonic() + SETTLE_S
    while True:
        statements = drafts(platform, run.period)
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

    return ours, expected, refused


def desks(platform, run: Run, rng: random.Random, count: int, seconds: float) -> list[threading.Thread]:
    """`count` partners' desks, started, each carrying requests for `seconds`."""
    until = time.monotonic() + seconds
    started = [threading.Thread(target=desk, args=(platform, run, random.Random(rng.getrandbits(64)), until),
                                name=f"desk-{n}") for n in range(count)]
    for thread in started:
        thread.start()
    return started


def finish(started: list[threading.Thread], run: Run) -> None:
    """Every desk done with the request in hand, each carried to completion or failed."""
    for thread in started:
        thread.join(JOURNEY_S + 10)
        assert not thread.is_alive(), f"{thread.name} still carrying a request {JOURNEY_S}s after the run"
    assert not run.failures, "\n".join(run.failures)
