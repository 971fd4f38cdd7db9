"""Where the CPU went during a measurement, seen from outside the processes: user plus system time
from /proc, summed per part of the platform (a service with every process under it, the broker,
the PostgreSQL backends serving this run's databases, this benchmark with the children it has
waited for, such as wrk), beside the whole machine's, which shows what else was running.

Processes are read every half second during the measurement, so one that ends before it does (a
database connection closed at the end of a run) still counts with what it had used by then."""

import os
import resource
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bench.processes import TICKS_S, table
from bench.profiles import Recording

EVERY_S = 0.5


def sample(roots: dict[int, str]) -> dict[int, tuple[str, float]]:
    """(part, CPU seconds) of each process under a root: it counts for its nearest ancestor in `roots`."""
    processes = table()
    found = {}
    for pid, (_, seconds) in processes.items():
        at = pid
        while at in processes and at not in roots and processes[at][0] != at:
            at = processes[at][0]
        if at in roots:
            found[pid] = (roots[at], seconds)
    return found


def machine_busy_s() -> float:
    """CPU seconds the machine's cores have spent on anything but idling, since boot."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / TICKS_S  # less idle and iowait


def _waited_children_s() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return children.ru_utime + children.ru_stime


class Usage:
    """CPU used per part between `start()` and `stop()`; `busiest` says it per core and per item."""

    def __init__(self, roots: Callable[[], dict[int, str]], recording: Recording | None = None):
        self._roots, self.recording = roots, recording
        self.used: dict[str, float] = {}
        self.elapsed_s = self.machine_s = 0.0

    def roots(self) -> dict[int, str]:
        """Read at every sample (a process may have been restarted); a profiler's CPU is its own."""
        samplers = self.recording.samplers if self.recording else []
        return self._roots() | {sampler.pid: "py-spy" for sampler in samplers}

    def start(self) -> "Usage":
        if self.recording:
            self.recording.start()
        self._first = sample(self.roots())
        self._last = dict(self._first)
        self._marks = time.perf_counter(), machine_busy_s(), _waited_children_s()
        self._done = threading.Event()
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()
        return self

    def _watch(self) -> None:
        while not self._done.wait(EVERY_S):
            self._last.update(sample(self.roots()))

    def stop(self) -> "Usage":
        self._done.set()
        self._watcher.join()
        self._last.update(sample(self.roots()))
        started, machine, children = self._marks
        self.elapsed_s, self.machine_s = time.perf_counter() - started, machine_busy_s() - machine
        self.used = {"bench": _waited_children_s() - children}
        for pid, (part, seconds) in self._last.items():
            self.used[part] = self.used.get(part, 0.0) + seconds - self._first.get(pid, (part, 0.0))[1]
        if self.recording:  # after the marks: the samplers, once waited for, are no child of "bench"
            self.recording.stop()
        return self

    def percent(self, part: str) -> float:
        """`part`'s CPU as a share of one core."""
        return 100 * self.used.get(part, 0.0) / self.elapsed_s

    def busiest(self, items: int, unit: str, top: int = 4) -> str:
        ranked = sorted(((s, p) for p, s in self.used.items() if s > 0), reverse=True)[:top]
        parts = ", ".join(f"{part} {100 * s / self.elapsed_s:.0f}% ({1000 * s / max(items, 1):.2f} ms/{unit})"
                          for s, part in ranked)
        return f"{parts}; machine {100 * self.machine_s / self.elapsed_s:.0f}% of {100 * os.cpu_count()}%"
