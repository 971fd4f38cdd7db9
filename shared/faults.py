"""Faults on purpose, for the tests that prove a crash loses nothing: HPS_FAULTS names the points
where this process fails (`point` raises there, `point:kill` is SIGKILL there), each once per
state directory. Production refuses to start with any armed."""

import os
import signal
from pathlib import Path

_armed: dict[str, str] = {}  # point -> "raise" | "kill"
_fired_dir: Path | None = None
_service = ""


class InjectedFault(RuntimeError):
    pass


def arm(points: list[str], state_dir: Path, service: str) -> None:
    global _fired_dir, _service
    _armed.clear()
    for spec in points:
        point, _, how = spec.partition(":")
        _armed[point] = how or "raise"
    _fired_dir, _service = state_dir / "faults", service


def reach(point: str) -> None:
    how = _armed.get(point)
    if how is None:
        return
    marker = _fired_dir / f"{_service}.{point}"
    if marker.exists():
        return
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise InjectedFault(f"fault injected at {point}")
