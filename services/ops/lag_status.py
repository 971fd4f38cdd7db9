"""Consumer lag judged over a window of samples, as Burrow does, not from one reading."""

from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

SAMPLES = 10  # readings per partition kept; one every few seconds


class LagStatus(StrEnum):
    OK = "OK"
    FALLING_BEHIND = "falling behind"
    STALLED = "stalled"


@dataclass(frozen=True)
class Sample:
    at: float
    committed: int
    end: int

    @property
    def lag(self) -> int:
        return max(0, self.end - self.committed)


@dataclass
class PartitionHistory:
    samples: deque = field(default_factory=lambda: deque(maxlen=SAMPLES))

    def add(self, sample: Sample) -> None:
        self.samples.append(sample)

    def status(self) -> LagStatus:
        """OK: caught up at some point in the window, or lag not growing.
        Stalled: lag throughout and the committed offset has not moved.
        Falling behind: the consumer moves, but the lag grew at every reading."""
        window = list(self.samples)
        if not window or any(s.lag == 0 for s in window):
            return LagStatus.OK
        if len(window) >= 3 and window[0].committed == window[-1].committed:
            return LagStatus.STALLED
        lags = [s.lag for s in window]
        if len(window) >= 3 and all(b > a for a, b in zip(lags, lags[1:])):
            return LagStatus.FALLING_BEHIND
        return LagStatus.OK


def worst(statuses: list[LagStatus]) -> LagStatus:
    order = [LagStatus.OK, LagStatus.FALLING_BEHIND, LagStatus.STALLED]
    return max(statuses, key=order.index, default=LagStatus.OK)
