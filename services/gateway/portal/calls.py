"""The portal asks the partner API what it shows and does, in this process, as the signed-in user:
every rule, refusal, audit entry and rate limit is the API's own, and the portal holds no second copy."""

from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from fastapi import Request


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    content: bytes = b""
    headers: httpx.Headers | None = None

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def error(self) -> str:
        """What a refusal says, for the page."""
        error = self.body.get("error", {}) if isinstance(self.body, dict) else {}
        return error.get("message") or f"the platform answered {self.status}"


class Caller:
    def __init__(self, request: Request, token: str):
        address = (request.client.host if request.client else "127.0.0.1", 0)  # the audit trail's source
        transport = httpx.ASGITransport(app=request.app, client=address)
        headers = {"Authorization": f"Bearer {token}"}
        if request_id := structlog.contextvars.get_contextvars().get("request_id"):
            headers["X-Request-ID"] = request_id  # the page's calls share its id in the logs
        self.http = httpx.AsyncClient(transport=transport, base_url="http://portal", timeout=60, headers=headers)

    async def __aenter__(self) -> "Caller":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.http.aclose()

    async def call(self, method: str, path: str, **kw) -> Answer:
        response = await self.http.request(method, path, **kw)
        kind = response.headers.get("content-type", "")
        body = response.json() if kind.startswith("application/json") and response.content else None
        return Answer(response.status_code, body, response.content, response.headers)

    async def get(self, path: str, **params) -> Answer:
        return await self.call("GET", path, params={k: v for k, v in params.items() if v not in (None, "")})

    async def post(self, path: str, body: dict, wait_s: int = 10) -> Answer:
        return await self.call("POST", path, json=body, params={"wait": wait_s} if wait_s else None)
