"""A small client of the partner API, shared by the CLI commands and `hps simulate`."""

import time
from dataclasses import dataclass
from typing import Any

import httpx
import typer

from shared.settings import get_settings

RATE_LIMITED_TRIES = 10


class ApiFailure(Exception):
    def __init__(self, status: int, body: dict):
        error = body.get("error", {}) if isinstance(body, dict) else {}
        super().__init__(f"{status} {error.get('code', '')}: {error.get('message', body)}")
        self.status, self.error = status, error


@dataclass
class Api:
    url: str
    token: str | None
    timeout_s: float = 30

    def __post_init__(self):
        self.http = httpx.Client(base_url=self.url, timeout=self.timeout_s)  # one connection, reused

    def call(self, method: str, path: str, token: str | None = None, headers: dict | None = None, **kw) -> Any:
        token = token or self.token
        if not token:
            raise ApiFailure(401, {"error": {"code": "unauthorized", "message": "set HPS_TOKEN or pass --token"}})
        for _ in range(RATE_LIMITED_TRIES):
            response = self.http.request(method, path, headers={"Authorization": f"Bearer {token}", **(headers or {})},
                                         **kw)
            if response.status_code != 429:
                break
            # The gateway says when this caller may ask again; a long month's simulation waits as told.
            time.sleep(min(int(response.headers.get("retry-after", "1")), 60))
        body = response.json() if response.content else {}
        if response.status_code >= 400:
            raise ApiFailure(response.status_code, body)
        return body


def api(token: str | None) -> Api:
    settings = get_settings()
    return Api(settings.api_url, token or settings.token)


def fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


TokenOption = typer.Option(None, "--token", envvar="HPS_TOKEN", help="bearer token (default: HPS_TOKEN)")
