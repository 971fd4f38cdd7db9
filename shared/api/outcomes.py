"""Command outcomes: what a `202` points at, and waiting for it.

Every command an API accepts answers `202` with the command's id and a `Location` where its
outcome is read: `pending` until the service that owns the state decides, then `applied` (with
the new state) or `refused` (with the owner's error, as an API would answer it). A caller who asks
to wait (`Prefer: wait=N` as in RFC 7240, or `?wait=N` / `?wait=Ns`) is answered with that final
outcome instead: `200` with the new state, or the refusal's own status and error body; if no
decision comes within N seconds (at most `MAX_WAIT_S`), the `202` as without waiting.
"""

import asyncio
import re
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Header, Query
from fastapi.responses import JSONResponse

from shared.api.errors import ApiError

MAX_WAIT_S = 30.0
POLL_S = 0.05
_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*([0-9]{1,3})(?:$|[,;\s])", re.IGNORECASE)

State = Literal["pending", "applied", "refused"]


@dataclass(frozen=True)
class Outcome:
    """A command as its caller sees it. `resource` is the body at its Location; a refusal also
    carries the owner's error ({"code", "message", ...}) and the status an API answers it with."""

    state: State
    resource: dict[str, Any]
    error: dict[str, Any] | None = None
    http_status: int = 200


async def _wait(wait: Annotated[str | None, Query(pattern=r"^[0-9]{1,3}(\.[0-9]{1,3})?s?$", examples=["5s"],
                                                  description="wait up to this many seconds (at most 30) for the "
                                                              "outcome")] = None,
                prefer: Annotated[str | None, Header(max_length=500,
                                                     description="`wait=N`: as ?wait=N (RFC 7240)")] = None,
                ) -> float:
    seconds = 0.0
    if wait is not None:
        seconds = float(wait.removesuffix("s"))
    elif prefer and (match := _PREFER_WAIT.search(prefer)):
        seconds = float(match.group(1))
    return min(seconds, MAX_WAIT_S)


WaitSeconds = Annotated[float, Depends(_wait)]


class Waiters:
    """Callers waiting in this process for commands' outcomes. The read model here wakes them as
    soon as it records a decision; `look_elsewhere` finds, in one query for all of them, those that
    another process on the same database decided."""

    def __init__(self):
        self._waiting: dict[str, tuple[asyncio.Event, int]] = {}

    @contextmanager
    def watching(self, key: str):
        event, count = self._waiting.get(key, (asyncio.Event(), 0))
        self._waiting[key] = (event, count + 1)
        try:
            yield event
        finally:
            event, count = self._waiting.get(key, (event, 1))
            if count > 1:
                self._waiting[key] = (event, count - 1)
            else:
                self._waiting.pop(key, None)

    def wake(self, keys: Iterable[str]) -> None:
        for key in keys:
            if waiting := self._waiting.get(key):
                waiting[0].set()

    async def look_elsewhere(self, decided: Callable[[list[str]], Iterable[str]]) -> None:
        """Every POLL_ELSEWHERE_S, wake the waiting callers whose commands `decided` (run in a thread,
        off the event loop) says are decided: a background task of a process that is one of several."""
        while True:
            await asyncio.sleep(POLL_ELSEWHERE_S)
            if self._waiting:
                self.wake(await asyncio.to_thread(decided, list(self._waiting)))


POLL_ELSEWHERE_S = 0.1


async def settle(outcome: Outcome, read: Callable[[], Outcome | None], wait_s: float,
                 waiters: Waiters | None = None, key: str | None = None) -> Outcome:
    """`outcome`, re-read until it is decided or `wait_s` have passed: each time `waiters` wake
    `key`, or by polling."""
    deadline = time.monotonic() + wait_s
    with waiters.watching(key) if waiters else nullcontext() as woken:
        if woken is not None and outcome.state == "pending":  # decided before we started watching?
            outcome = read() or outcome
        while outcome.state == "pending" and (left := deadline - time.monotonic()) > 0:
            if woken is None:
                await asyncio.sleep(min(POLL_S, left))
            else:
                with suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), left)
                if not woken.is_set():
                    break
                woken.clear()
            outcome = read() or outcome
    return outcome


def respond(outcome: Outcome, location: str, waited: bool) -> JSONResponse:
    """The answer to a command: 202 while pending; once decided (the caller waited), 200 or the refusal."""
    headers = {"Location": location}
    if waited:
        headers["Preference-Applied"] = "wait"
    if outcome.state == "refused" and waited:
        error = outcome.error or {"code": "refused", "message": "the command was refused"}
        return JSONResponse({"error": {**error, "command_id": outcome.resource.get("command_id"),
                                       "location": location}}, outcome.http_status, headers=headers)
    return JSONResponse(outcome.resource, 202 if outcome.state == "pending" or not waited else 200, headers=headers)


async def answer(outcome: Outcome, location: str, read: Callable[[], Outcome | None], wait_s: float,
                 waiters: Waiters | None = None, key: str | None = None) -> JSONResponse:
    if wait_s <= 0:
        return respond(outcome, location, waited=False)
    return respond(await settle(outcome, read, wait_s, waiters, key), location, waited=True)


def not_found(command_id: str) -> ApiError:
    return ApiError(404, "not_found", f"no command {command_id}")
