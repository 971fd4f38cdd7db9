"""A small client of the partner API, shared by the CLI commands and `hps simulate`, and how a
command that fails exits."""

import time
from dataclasses import dataclass
from typing import Any

import httpx
import typer
from typer.core import TyperGroup

from shared.settings import get_settings

RATE_LIMITED_TRIES = 10

# Exit codes by kind, one mapping for every command (README, "Command line"): a script tells a
# wrong id from a refusal from a platform that is down without reading the message.
OK = 0
CHECK_FAILED = 1  # a check that did not hold: books not balanced, a statement not verified
USAGE = 2  # a bad option or argument: click's own code for its usage errors
NOT_FOUND = 3  # HTTP 404
REFUSED = 4  # HTTP 400/401/403/409/422, 429 after retries, or a command the platform decided against
UNAVAILABLE = 5  # HTTP 5xx, or the platform not listening or not answering in time


class ApiFailure(Exception):
    def __init__(self, status: int, body: dict):
        error = body.get("error", {}) if isinstance(body, dict) else {}
        super().__init__(f"{status} {error.get('code', '')}: {error.get('message', body)}")
        self.status, self.error = status, error

    @classmethod
    def of(cls, response: httpx.Response) -> "ApiFailure":
        try:
            return cls(response.status_code, response.json())
        except ValueError:  # a proxy in front of the platform may answer its own page, not JSON
            return cls(response.status_code, {"error": {"code": "http_error",
                                                        "message": response.text[:200] or response.reason_phrase}})


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
        if response.status_code >= 400:
            raise ApiFailure.of(response)
        return response.json() if response.content else {}

    def page(self, path: str, params: dict, every: bool = False) -> dict:
        """A page of a listing ({"items", "next_cursor"}); with `every`, all its pages as one."""
        page = self.call("GET", path, params=params)
        items = page["items"]
        while every and page["next_cursor"]:
            page = self.call("GET", path, params={**params, "cursor": page["next_cursor"]})
            items += page["items"]
        return {**page, "items": items}


def api(token: str | None) -> Api:
    settings = get_settings()
    return Api(settings.api_url, token or settings.token)


def exit_code(exc: ApiFailure | httpx.HTTPError) -> int:
    if isinstance(exc, httpx.HTTPError):
        return UNAVAILABLE
    if exc.error.get("location"):  # a decided refusal names its command's Location, whatever its status
        return REFUSED
    if exc.status == 404:
        return NOT_FOUND
    return UNAVAILABLE if exc.status >= 500 else REFUSED


def fail(error: ApiFailure | httpx.HTTPError | str, code: int | None = None) -> typer.Exit:
    """Print `error` on stderr; the exit for its kind, or `code` for what is no API error."""
    shown = f"no answer from the platform ({error.__class__.__name__}: {error})" \
        if isinstance(error, httpx.HTTPError) else error
    typer.echo(f"error: {shown}", err=True)
    return typer.Exit(exit_code(error) if code is None else code)


class Commands(TyperGroup):
    """The `hps` group: an API failure left by any command below it exits by its kind."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (ApiFailure, httpx.HTTPError) as exc:
            raise fail(exc) from None


TokenOption = typer.Option(None, "--token", envvar="HPS_TOKEN", help="bearer token (default: HPS_TOKEN)")
