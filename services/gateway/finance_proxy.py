"""/v1/finance/* is the finance service's API: the gateway passes it through, so partners have one address."""

import httpx
from fastapi import APIRouter, Request, Response

from shared.api.errors import ApiError

router = APIRouter()
PASSED = ("authorization", "content-type", "idempotency-key")
RETURNED = ("content-type", "content-disposition")


@router.api_route("/v1/finance/{path:path}", methods=["GET", "POST"], include_in_schema=False)
async def finance(path: str, request: Request) -> Response:
    try:
        answer = await request.app.state.finance.request(request.method, f"/v1/finance/{path}", params=request.query_params,
                                       content=await request.body(),
                                       headers={k: v for k, v in request.headers.items() if k.lower() in PASSED})
    except httpx.HTTPError as exc:
        raise ApiError(503, "unavailable", f"the finance service does not answer ({exc.__class__.__name__})") from None
    return Response(answer.content, answer.status_code,
                    headers={k: v for k, v in answer.headers.items() if k.lower() in RETURNED})

