"""One process tree for the whole platform: start every part, restart what dies, stop all."""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    restarts: int = 0
    started_at: float = 0.0
    env: dict[str, str] = field(default_factory=dict)  # on top of the supervisor's
    log_path: Path | None = None

    def start(self, env: dict[str, str], log_dir) -> None:
        log = open(log_dir / f"{self.name}.log", "ab")
        env = {**env, **self.env}
        # Own process group: a terminal's Ctrl-C reaches the supervisor only, which then stops
        # the children in order instead of all of them racing.
        self.process = subprocess.Popen(self.argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        log.close()
        self.started_at = time.monotonic()
        self.log_path = log_dir / f"{self.name}.log"

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Supervisor:
    children: list[Child]
    log_dir: object
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    stopping: bool = False

    def start_all(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for child in self.children:
            child.start(self.env, self.log_dir)

    def watch(self, on_restart=print) -> None:
        """Until SIGINT or SIGTERM: restart a child that died, with a back-off if it keeps dying."""
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGTERM, self._stop)
        while not self.stopping:
            for child in self.children:
                if child.process and child.process.poll() is not None and not self.stopping:
                    if time.monotonic() - child.started_at < 5:
                        child.restarts += 1
                        time.sleep(min(30, 2**child.restarts))
                    else:
                        child.restarts = 0
                    on_restart(f"{child.name} exited with {child.process.returncode}; restarting")
                    child.start(self.env, self.log_dir)
            time.sleep(0.5)

    def _stop(self, signum, frame) -> None:
        self.stopping = True

    def stop_all(self, timeout_s: float = 30) -> None:
        for child in self.children:
            if child.process and child.process.poll() is None:
                os.killpg(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for child in self.children:
            if not child.process:
                continue
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:  # whatever is left of the group, stragglers included
                os.killpg(child.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            child.process.wait()


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
