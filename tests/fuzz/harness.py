"""What the fuzz test and the long run share: the platform they fuzz (the three APIs, no workers),
the principals they call as, and one call of a generated case with every check on its answer."""

import json
import re
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import requests
from kafka import KafkaConsumer, TopicPartition

from shared.topics import DEAD_LETTERS, TOPICS
from tests.conftest import free_ports
from tests.e2e.platform import Platform

# One token per kind of principal, and one the platform does not know.
TOKENS = {
    "dev-council": "partner",
    "dev-council-budget": "partner, budget holder",
    "dev-staff-it": "IT staff",
    "dev-staff-hr": "HR staff",
    "dev-finance": "finance",
    "dev-ops": "ops",
    "not-a-token": "unknown token",
}
UNKNOWN_TOKEN = "not-a-token"
# The tenant whose Idempotency-Keys a token shares (keys are per tenant at the gateway).
TENANT = {"dev-council": "council", "dev-council-budget": "council"}
# The APIs only: with no workers running, an event on a topic was put there by an API call.
APIS = ("gateway", "finance.ledger", "ops")
REQUEST_TIMEOUT_S = 10
# An answer slower than this, with one call at a time, is a hang rather than load.
MAX_RESPONSE_S = 5
# A case the HTTP client refuses to send (a header value it rejects): no input to the API.
NOT_SENDABLE = "not sendable"


@contextmanager
def running_apis(bootstrap: str, database_url: str, state_dir: Path):
    """The gateway, the finance ledger and ops, healthy; stopped on exit."""
    platform = Platform(bootstrap, state_dir, *free_ports(3), {
        "HPS_DATABASE_URL": database_url,
        # Its own read-model group: what earlier tests left committed does not decide what it reads.
        "HPS_GATEWAY_GROUP": f"hps-fuzz-{uuid.uuid4().hex[:8]}",
        # Errors and their tracebacks still reach the logs; an access line per call would not help.
        "HPS_LOG_LEVEL": "WARNING",
    })
    try:
        for name in APIS:
            platform.start(name)
        platform.await_health(platform.url, "gateway")
        platform.await_health(f"http://127.0.0.1:{platform.finance_port}", "finance.ledger")
        platform.await_health(platform.ops_url, "ops")
        yield platform
    finally:
        platform.stop_all()


class EventCount:
    """Events on the platform's topics, dead letters aside (a refused message may rightly end there)."""

    def __init__(self, bootstrap: str):
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, request_timeout_ms=30_000)
        self.partitions = [TopicPartition(t.name, p) for t in TOPICS if t.name != DEAD_LETTERS
                           for p in range(t.partitions)]

    def total(self) -> int:
        return sum(self.consumer.end_offsets(self.partitions).values())

    def close(self) -> None:
        self.consumer.close()


def _idempotent_bodies() -> dict:
    from services.finance.ledger.api import NewSharedCost
    from services.gateway.schemas import NewRequest

    return {("POST", "/v1/requests"): NewRequest, ("POST", "/v1/finance/shared-costs"): NewSharedCost}


@dataclass
class Failure:
    check: str
    method: str
    path: str  # the operation's template: one line per kind of failure, not per generated value
    status: int | None
    sample: str
    count: int = 1


def _valid_wait(value) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[0-9]{1,3}(\.[0-9]{1,3})?s?", value) is not None


def _owners_refusal(response) -> bool:
    """A waited-for command its owner refused: published, then decided against (it names the command)."""
    try:
        return "command_id" in response.json().get("error", {})
    except (ValueError, AttributeError):
        return False


@dataclass
class Prober:
    """Calls generated cases one at a time and keeps what each check found."""

    base_url: str
    bootstrap: str | None = None  # None: no event check
    session: requests.Session = field(default_factory=requests.Session)
    statuses: Counter = field(default_factory=Counter)
    failures: dict = field(default_factory=dict)
    published: int = 0  # events from accepted calls: proof that the event count sees publishing

    def __post_init__(self):
        self.events = EventCount(self.bootstrap) if self.bootstrap else None
        self.models = _idempotent_bodies()
        self.accepted = {}  # (tenant, method, path, Idempotency-Key) -> the body first accepted with it

    @property
    def cases(self) -> int:
        """Requests sent (answered or not)."""
        return sum(n for s, n in self.statuses.items() if s != NOT_SENDABLE)

    def close(self) -> None:
        self.session.close()
        if self.events:
            self.events.close()

    def probe(self, case, token: str) -> None:
        if case.operation.path == "/v1/ops/tail":
            case.query = {**(case.query or {}), "follow": "false"}
        if _valid_wait((case.query or {}).get("wait")):  # a real wait would hold the call; its parsing is fuzzed
            case.query["wait"] = "0.5"
        if case.headers and any(k.lower() == "prefer" for k in case.headers):
            case.headers = {k: v for k, v in case.headers.items() if k.lower() != "prefer"} | {"Prefer": "wait=0"}
        key = next((v for k, v in (case.headers or {}).items() if k.lower() == "idempotency-key"), None)
        # A generated key is kept, so keys recur as a client's retries would; otherwise a fresh one.
        headers = {"Authorization": f"Bearer {token}", **({} if key is not None else {"Idempotency-Key": str(uuid.uuid4())})}
        method, path = case.method.upper(), case.operation.path
        before = self.events.total() if self.events else 0
        started = time.monotonic()
        try:
            response = case.call(base_url=self.base_url, session=self.session, headers=headers,
                                 timeout=REQUEST_TIMEOUT_S)
        except requests.Timeout:
            self.statuses["timeout"] += 1
            self._fail("hang", method, path, None, f"no answer in {REQUEST_TIMEOUT_S} s", token, case)
            return
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            self.statuses["no answer"] += 1
            self._fail("no answer", method, path, None, f"{exc.__class__.__name__}: {exc}", token, case)
            return
        except requests.RequestException:
            self.statuses[NOT_SENDABLE] += 1
            return
        elapsed = time.monotonic() - started
        status = response.status_code
        self.statuses[status] += 1
        sample = _describe(response)
        if status >= 500:
            self._fail("server error", method, path, status, sample, token)
        if elapsed > MAX_RESPONSE_S:
            self._fail("hang", method, path, status, f"answered after {elapsed:.1f} s; {sample}", token)
        published = self.events.total() - before if self.events else 0
        if 200 <= status < 300 or _owners_refusal(response):
            self.published += published
        elif published:
            self._fail("published on refusal", method, path, status,
                       f"answered {status} but published {published} event(s); {sample}", token)
        if 200 <= status < 300 and key is not None and (method, path) in self.models:
            self._check_idempotency(method, path, status, key.strip(), response, token)

    def _check_idempotency(self, method: str, path: str, status: int, key: str, response, token: str) -> None:
        if not key:
            return  # an empty key is no key
        body = _normalised(self.models[(method, path)], response.request.body)
        seen = self.accepted.setdefault((TENANT.get(token), method, path, key), body)
        if seen != body:
            self._fail("idempotency", method, path, status,
                       f"Idempotency-Key {_short(repr(key), 40)} reused with a different body was accepted; {_describe(response)}",
                       token)

    def _fail(self, check: str, method: str, path: str, status, sample: str, token: str, case=None) -> None:
        if case is not None:
            sample = f"{sample}; {case.method.upper()} {case.formatted_path} query={case.query} body={_short(case.body)}"
        label = (check, method, path, status)
        if label in self.failures:
            self.failures[label].count += 1
        else:
            self.failures[label] = Failure(check, method, path, status, f"as {token}: {sample}")

    def summary(self) -> str:
        return summary("fuzz", self.cases, self.statuses, self.failures.values())

    def report(self) -> str:
        return report(self.summary(), self.failures.values())

    def as_json(self) -> dict:
        return {"cases": self.cases, "statuses": {str(s): n for s, n in self.statuses.items()},
                "failures": [asdict(f) for f in self.failures.values()]}


def summary(what: str, cases: int, statuses: Counter, failures) -> str:
    failures = list(failures)
    by_status = ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items(), key=lambda i: str(i[0])))
    return (f"{what}: {cases} cases run, {sum(f.count for f in failures)} failed ({len(failures)} distinct); "
            f"statuses {{{by_status}}}")


def report(heading: str, failures) -> str:
    lines = [heading]
    for f in sorted(failures, key=lambda f: (f.path, f.method, f.check, str(f.status))):
        lines.append(f"  {f.check}: {f.method} {f.path} -> {f.status} (x{f.count})\n      e.g. {f.sample}")
    return "\n".join(lines)


def _normalised(model, raw: bytes | str | None):
    """The body as the API understands it, so that 1.5 and "1.50", or a default left out or sent,
    count as the same body."""
    try:
        return model.model_validate_json(raw or b"").model_dump(exclude_none=True)
    except ValueError:
        return raw


def _short(value, limit: int = 300) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + "..."


def _describe(response: requests.Response) -> str:
    request = response.request
    body = request.body.decode(errors="replace") if isinstance(request.body, bytes) else request.body
    sample = f"{request.method} {request.url}"
    if body:
        sample += f" body={_short(body)}"
    return f"{sample} -> {response.status_code} {_short(response.text, 200)}"
