"""/v1/finance/* and /v1/ops/* belong to the finance ledger and the ops service: the gateway passes
them through, streaming, so every user of the platform has one address (live streams included)."""

import httpx
import structlog
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from shared.api.errors import ApiError

router = APIRouter()
PASSED_ON = ("/v1/finance/", "/v1/ops/", "/.well-known/")
PASSED = ("authorization", "content-type", "idempotency-key", "prefer")
RETURNED = ("content-type", "content-disposition", "cache-control", "location", "preference-applied",
            "www-authenticate", *(f"hps-statement-{name}" for name in ("sequence", "signature", "previous-signature",
                                                                        "key-id")))


async def _pass(owner: str, request: Request) -> StreamingResponse:
    upstream: httpx.AsyncClient = request.app.state.upstreams[owner]
    # The path and query as they came, still percent-encoded: decoded, a %00 or %0A would make
    # another URL (or none) on the way out.
    target = request.scope["raw_path"].decode("latin-1")
    if query := request.scope["query_string"].decode("latin-1"):
        target += f"?{query}"
    try:
        # The caller's address, for the audit trail behind (uvicorn trusts it from the gateway's host), and
        # the request's id (shared/api/app.py RequestIds), so that the lines logged behind carry it too.
        forwarded = {"x-forwarded-for": request.client.host if request.client else "unknown",
                     "x-request-id": structlog.contextvars.get_contextvars()["request_id"]}
        outgoing = upstream.build_request(request.method, target, content=await request.body(),
                                          headers={**{k: v for k, v in request.headers.items() if k.lower() in PASSED},
                                                   **forwarded})
    except httpx.InvalidURL as exc:
        raise ApiError(400, "bad_request", f"not a URL the {owner} service can be asked for: {exc}") from None
    try:
        answer = await upstream.send(outgoing, stream=True)
    except httpx.HTTPError as exc:
        raise ApiError(503, "unavailable", f"the {owner} service does not answer ({exc.__class__.__name__})") from None
    return StreamingResponse(answer.aiter_raw(), answer.status_code, background=BackgroundTask(answer.aclose),
                             headers={k: v for k, v in answer.headers.items() if k.lower() in RETURNED})


@router.api_route("/v1/finance/{path:path}", methods=["GET", "POST"], include_in_schema=False)
async def finance(path: str, request: Request) -> StreamingResponse:
    return await _pass("finance", request)


@router.get("/.well-known/hps-statement-keys.json", include_in_schema=False)
async def statement_keys(request: Request) -> StreamingResponse:
    """The keys statements are signed with, where partners look for them (the ledger publishes them)."""
    request.scope["raw_path"] = b"/v1/finance/statement-keys"
    return await _pass("finance", request)


@router.api_route("/v1/ops/{path:path}", methods=["GET", "POST"], include_in_schema=False)
async def ops(path: str, request: Request) -> StreamingResponse:
    return await _pass("ops", request)
