"""The operations API and dashboard: snapshots, a live stream, lag, dead letters and their replay."""

import asyncio
import json
import time
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, StreamingResponse

from services.ops.figures import Seen
from services.ops.lag import by_group
from services.ops.replay import AlreadyReplayed
from shared.api.auth import PrincipalDep, require
from shared.api.errors import ApiError
from shared.fields import Code, Line
from shared.kafka import bus

router = APIRouter()
TAIL_SPAN = 100


def snapshot(state) -> dict:
    now = int(time.time())
    figures = state.figures
    replayed = state.replays.replayed()
    return {
        "now": now,
        "throughput": {"by_topic": figures.by_topic.series(now, 120), "by_tenant": figures.by_tenant.series(now, 120),
                       "rate_by_tenant": figures.by_tenant.per_second(now), "rate_by_topic": figures.by_topic.per_second(now),
                       "rate_by_type": figures.by_type.per_second(now)},
        "lag": by_group(state.lags),
        "dead_letters": [{**d.as_json(), "replayed": d.id in replayed}
                         for d in sorted(state.observer.dead_letters.values(), key=lambda d: -d.at)[:50]],
        "dead_letters_total": len(state.observer.dead_letters),
        "sla_breaches": list(figures.breaches)[-50:][::-1],
        "latest": [_line(s) for s in list(figures.latest)[-TAIL_SPAN:][::-1]],
    }


def _line(s: Seen) -> dict:
    return {"at": s.at, "topic": s.topic, "partition": s.partition, "offset": s.offset, "tenant": s.tenant,
            "type": s.type, "service": s.service, "id": s.id, "subject": s.subject}


@router.get("/ops", response_class=HTMLResponse, include_in_schema=False)
async def dashboard() -> str:
    return resources.files("services.ops").joinpath("dashboard.html").read_text()


@router.get("/ops/plotly.min.js", include_in_schema=False)
async def plotly() -> FileResponse:
    """plotly.js, kept in the repository (static/plotly-basic.LICENSE.txt says which): the dashboard works
    offline. A week in the browser's cache, then revalidated by its ETag, as the address has no version."""
    with resources.as_file(resources.files("services.ops").joinpath("static/plotly-basic.min.js")) as path:
        return FileResponse(path, media_type="application/javascript",
                            headers={"Cache-Control": "public, max-age=604800"})


@router.get("/v1/ops/snapshot")
async def current(request: Request, who: PrincipalDep) -> dict:
    require(who, "ops")
    return snapshot(request.app.state)


@router.get("/v1/ops/stream")
async def stream(request: Request, who: PrincipalDep) -> StreamingResponse:
    """Server-sent events: a snapshot every second, for the dashboard."""
    require(who, "ops")

    async def events():
        while not await request.is_disconnected():
            yield f"data: {json.dumps(snapshot(request.app.state))}\n\n"
            await asyncio.sleep(1)

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.get("/v1/ops/tail")
async def tail(request: Request, who: PrincipalDep, tenant: Code | None = None, service: Code | None = None,
               type: Line(200) | None = None, follow: Annotated[bool, Query()] = True) -> StreamingResponse:
    """Server-sent events: each event seen, as it is seen, filtered by tenant, service and type."""
    require(who, "ops")
    figures = request.app.state.figures

    def wanted(s: Seen) -> bool:
        return (tenant in (None, s.tenant)) and (service in (None, s.service)) and (type is None or type in s.type)

    async def lines():
        sent = set()
        backlog = [s for s in list(figures.latest)[-TAIL_SPAN:] if wanted(s)]
        for s in backlog:
            sent.add((s.topic, s.partition, s.offset))
            yield f"data: {json.dumps(_line(s))}\n\n"
        while follow and not await request.is_disconnected():
            await asyncio.sleep(0.5)
            for s in list(figures.latest):
                if (s.topic, s.partition, s.offset) not in sent and wanted(s):
                    sent.add((s.topic, s.partition, s.offset))
                    yield f"data: {json.dumps(_line(s))}\n\n"

    return StreamingResponse(lines(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.get("/v1/ops/lag")
async def lag(request: Request, who: PrincipalDep) -> list[dict]:
    require(who, "ops")
    return by_group(request.app.state.lags)


@router.get("/v1/ops/dead-letters")
async def dead_letters(request: Request, who: PrincipalDep) -> dict:
    require(who, "ops")
    replayed = request.app.state.replays.replayed()
    letters = sorted(request.app.state.observer.dead_letters.values(), key=lambda d: -d.at)
    return {"dead_letters": [{**d.as_json(), "replayed": d.id in replayed} for d in letters],
            "replays": request.app.state.replays.audit()}


@router.post("/v1/ops/dead-letters/{letter_id}/replay")
async def replay(letter_id: Line(40), request: Request, who: PrincipalDep) -> dict:
    """Put a dead letter back on its original topic, once; the replay is kept in the audit trail."""
    require(who, "ops")
    letter = request.app.state.observer.dead_letters.get(letter_id)
    if letter is None:
        raise ApiError(404, "not_found", f"no dead letter {letter_id}")
    if not letter.source_topic:
        raise ApiError(409, "not_replayable", f"dead letter {letter_id} does not say where it came from")
    try:
        return await request.app.state.replays.replay(letter, request.app.state.producer, who.name)
    except AlreadyReplayed as exc:
        raise ApiError(409, "already_replayed", str(exc)) from None
    except bus.BrokerError as exc:
        raise ApiError(503, "unavailable", f"Kafka did not acknowledge the replay ({exc.__class__.__name__})") from None
