"""Per-caller request limits at the gateway: one partner's runaway script is answered `429` with
`Retry-After` while the others are served. A caller is its bearer token, or its address without one.

Counted in each gateway process (`limits`, in memory): with N processes a caller may get up to N
times the limit, which README states."""

import hashlib
import math
import time

import orjson
from limits import parse_many
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter

UNLIMITED = {"/health"}  # the orchestrator's probes


class RateLimits:
    """Plain ASGI middleware (see shared/api/app.py Timing for why)."""

    def __init__(self, app, limits: str):
        self.app, self.limits = app, parse_many(limits)
        self.limiter = SlidingWindowCounterRateLimiter(MemoryStorage())

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] in UNLIMITED:
            return await self.app(scope, receive, send)
        caller = _caller(scope)
        for limit in self.limits:
            if not self.limiter.hit(limit, caller):
                reset_at, _ = self.limiter.get_window_stats(limit, caller)
                return await _refuse(send, max(1, math.ceil(reset_at - time.time())), limit)
        await self.app(scope, receive, send)


def _caller(scope) -> str:
    for name, value in scope["headers"]:
        if name == b"authorization":
            # A digest: the limiter's keys outlive the request, the token need not.
            return "token:" + hashlib.blake2b(value, digest_size=16).hexdigest()
    return f"address:{(scope.get('client') or ('unknown',))[0]}"


async def _refuse(send, retry_after_s: int, limit) -> None:
    body = orjson.dumps({"error": {"code": "rate_limited", "retry_after_s": retry_after_s,
                                   "message": f"more than {limit} from this caller; retry in {retry_after_s}s"}})
    await send({"type": "http.response.start", "status": 429,
                "headers": [(b"content-type", b"application/json"), (b"retry-after", str(retry_after_s).encode()),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
