"""Live figures kept from the event stream: pure Python, fed by the observer, read by the dashboard."""

from collections import Counter, deque
from dataclasses import dataclass, field

WINDOW_S = 300  # the throughput charts cover the last five minutes


@dataclass
class Rates:
    """Events per second, per key, in one-second buckets over the last WINDOW_S seconds."""

    buckets: dict[int, Counter] = field(default_factory=dict)

    def add(self, second: int, key: str, count: int = 1) -> None:
        self.buckets.setdefault(second, Counter())[key] += count
        for old in [s for s in self.buckets if s <= second - WINDOW_S]:
            del self.buckets[old]

    def series(self, now: int, span_s: int = WINDOW_S) -> dict[str, list[int]]:
        """Per key, the count of each second from now - span_s + 1 to now."""
        seconds = range(now - span_s + 1, now + 1)
        keys = {k for s in seconds for k in self.buckets.get(s, ())}
        return {k: [self.buckets.get(s, Counter())[k] for s in seconds] for k in sorted(keys)}

    def per_second(self, now: int, span_s: int = 10) -> dict[str, float]:
        """The mean rate of each key over the last span_s seconds."""
        return {k: sum(v) / span_s for k, v in self.series(now, span_s).items()}


@dataclass(frozen=True)
class Seen:
    """One event as the observer saw it: the live tail's line."""

    at: float
    topic: str
    partition: int
    offset: int
    tenant: str
    type: str
    service: str
    id: str
    subject: str | None


@dataclass
class Figures:
    by_topic: Rates = field(default_factory=Rates)
    by_tenant: Rates = field(default_factory=Rates)
    by_type: Rates = field(default_factory=Rates)
    latest: deque = field(default_factory=lambda: deque(maxlen=500))
    breaches: deque = field(default_factory=lambda: deque(maxlen=200))

    def record(self, seen: Seen) -> None:
        second = int(seen.at)
        self.by_topic.add(second, seen.topic)
        self.by_tenant.add(second, seen.tenant)
        self.by_type.add(second, seen.type)
        self.latest.append(seen)

    def record_breach(self, breach: dict) -> None:
        self.breaches.append(breach)
