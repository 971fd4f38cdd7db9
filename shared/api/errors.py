"""Every error the API answers is JSON: {"error": {"code", "message", "field"?, ...}}; never a bare 500."""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared import metrics
from shared.logging import get_logger

log = get_logger("gateway")


class ApiError(Exception):
    def __init__(self, http_status: int, code: str, message: str, field: str | None = None, **extra):
        self.http_status, self.code, self.message, self.field, self.extra = http_status, code, message, field, extra


def _no_default(schema: dict) -> None:
    schema.pop("default", None)


class FieldProblem(BaseModel):
    field: str
    message: str


class ErrorDetail(BaseModel):
    """What went wrong: `code` for programs, `message` for people. Some codes carry more members,
    e.g. `illegal_transition` the request's `status` and the actions `allowed`."""

    model_config = ConfigDict(extra="allow")

    code: str = Field(description="what went wrong, e.g. `not_found`, `illegal_transition`, `invalid`")
    message: str
    # Left out of the body when there is none: documented as optional, not as null.
    field: str | SkipJsonSchema[None] = Field(None, description="the field at fault, when one is",
                                              json_schema_extra=_no_default)
    problems: list[FieldProblem] | SkipJsonSchema[None] = Field(
        None, description="with `invalid` from validation: every field at fault, the first of which is `field`",
        json_schema_extra=_no_default)


class Error(BaseModel):
    """The body of every error the API answers."""

    error: ErrorDetail


def _body(code: str, message: str, field: str | None = None, **extra) -> dict:
    error = {"code": code, "message": message, **({"field": field} if field else {}), **extra}
    return {"error": error}


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError):
        headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
        return JSONResponse(_body(exc.code, exc.message, exc.field, **exc.extra), exc.http_status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError):
        errors = exc.errors()
        if any(e["type"] == "json_invalid" for e in errors):
            return JSONResponse(_body("malformed_json", "the body is not valid JSON"), 400)
        problems = [{"field": ".".join(str(p) for p in e["loc"][1:]) or e["loc"][0], "message": e["msg"]}
                    for e in errors]
        first = problems[0]
        return JSONResponse(_body("invalid", f"{first['field']}: {first['message']}", first["field"],
                                  problems=problems), 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException):
        return JSONResponse(_body("http_error", str(exc.detail)), exc.status_code)

    @app.exception_handler(DataError)
    async def refused_by_database(request: Request, exc: DataError):
        # The field types refuse such input first; this is the backstop for one they missed.
        log.warning("input_refused_by_database", path=request.url.path, error=str(exc.orig)[:300])
        return JSONResponse(_body("invalid", "the database cannot hold a value in this request "
                                             f"({str(exc.orig).splitlines()[0][:200]})"), 422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.error("unexpected_error", path=request.url.path, exc_info=exc)
        metrics.error("unexpected_api_error")
        return JSONResponse(_body("internal", "an unexpected error; nothing was changed"), 500)
