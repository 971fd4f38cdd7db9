"""A process's background tasks and what /health says of them.

Each consumer reports its liveness and last progress. A task that ends while the process is not
stopping (whatever the reason) fails the process: it stops and exits non-zero, so `hps up` or
Kubernetes starts it again, instead of an HTTP server answering 200 over a dead consumer.
"""

import asyncio
import time
from collections.abc import Callable, Coroutine

from shared.kafka.consuming import Runner
from shared.logging import get_logger

log = get_logger("health")


class Health:
    def __init__(self, service: str, stall_after_s: float):
        self.service, self.stall_after_s = service, stall_after_s
        self.runners: list[Runner] = []
        self.tasks: list[asyncio.Task] = []
        self.consuming: set[asyncio.Task] = set()  # the runners' tasks, which stop by themselves
        self.stopping = asyncio.Event()
        self.failed: str | None = None
        self.on_failure: Callable[[], None] = lambda: None  # what stops the process; set by whoever runs it

    def start(self, runner: Runner) -> asyncio.Task:
        """Start a consumer. The process serves meanwhile, its /health `starting` (503): joining a
        group after a crash waits out the dead member's session, and the API need not wait too."""
        self.runners.append(runner)
        task = self.watch(runner.progress.name, runner.run(self.stopping))
        self.consuming.add(task)
        return task

    def watch(self, name: str, coroutine: Coroutine) -> asyncio.Task:
        task = asyncio.create_task(coroutine, name=name)
        task.add_done_callback(self._ended)
        self.tasks.append(task)
        return task

    def _ended(self, task: asyncio.Task) -> None:
        if self.stopping.is_set():
            return
        why = "cancelled" if task.cancelled() else repr(task.exception()) if task.exception() else "returned"
        log.error("task_ended", task=task.get_name(), error=why)
        self.failed = self.failed or f"{task.get_name()} ended: {why}"
        self.on_failure()

    async def stop(self) -> None:
        """Runners finish the fetch in hand and stop; other tasks are cancelled."""
        self.stopping.set()
        for task in self.tasks:
            if task not in self.consuming:
                task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def report(self) -> tuple[bool, dict]:
        now = time.time()
        healthy = self.failed is None and all(r.progress.healthy(now, self.stall_after_s) for r in self.runners)
        return healthy, {"status": "ok" if healthy else "unhealthy", "service": self.service,
                         **({"failed": self.failed} if self.failed else {}),
                         "consumers": [r.progress.as_json(now, self.stall_after_s) for r in self.runners]}
