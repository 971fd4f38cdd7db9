"""GET /v1/audit: the audit trail of every API (shared/audit.py), newest first, a page at a time.
Finance and operations read all of it; a partner the entries of its own tenant; staff none."""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime
from sqlalchemy import select

from services.gateway.schemas import Page
from shared.api.auth import PrincipalDep
from shared.api.errors import ApiError
from shared.audit import audit_log
from shared.db import as_tenant
from shared.fields import Code, Line

router = APIRouter(prefix="/v1")
a = audit_log.c


@router.get("/audit", response_model=Page)
async def audit(request: Request, who: PrincipalDep, tenant: Code | None = None, actor: Line(200) | None = None,
                action: Line(200) | None = None, outcome: Literal["accepted", "refused", "failed"] | None = None,
                since: AwareDatetime | None = None, until: AwareDatetime | None = None,
                cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$")] = None,
                limit: Annotated[int, Query(ge=1, le=500)] = 100) -> Page:
    """Who did what, when, from where, and how it ended. `action` matches from its start (e.g.
    `POST /v1/finance`); `next_cursor` reads on to older entries."""
    if who.role == "staff":
        raise ApiError(403, "forbidden", "the audit trail is for finance, operations and each partner's own")
    if who.role == "partner":
        tenant = who.tenant
    query = select(audit_log).order_by(a.id.desc()).limit(limit + 1)
    for wanted in (a.tenant == tenant if tenant else None, a.actor == actor if actor else None,
                   a.action.startswith(action, autoescape=True) if action else None,
                   a.outcome == outcome if outcome else None, a.at >= since if since else None,
                   a.at < until if until else None, a.id < int(cursor) if cursor else None):
        if wanted is not None:
            query = query.where(wanted)
    with request.app.state.audit.engine.connect() as c:
        as_tenant(c, who.tenant)  # the database's own wall too
        rows = [dict(r) for r in c.execute(query).mappings()]
    more = len(rows) > limit
    return Page(items=[_entry(r) for r in rows[:limit]], next_cursor=str(rows[limit - 1]["id"]) if more else None)


def _entry(row: dict) -> dict:
    return {**row, "at": row["at"].isoformat() if isinstance(row["at"], datetime) else row["at"]}
