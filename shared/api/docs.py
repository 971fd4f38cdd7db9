"""The API document and its pages.

One OpenAPI document per API process, generated from its routes, each declaring the errors it can
answer (shared.api.answers) in the one error shape. A gateway documents the routes of the services
it passes calls to as well (`describe`): a caller reaches them through it. /docs (Swagger UI) loads
its script, style and icon from the process itself (fastapi-offline ships them), never from a CDN,
so it works on a network that reaches nothing else. There is no /redoc: Redoc's page always loads
its logo from redoc.ly.
"""

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager
from http import HTTPStatus

from fastapi import APIRouter, FastAPI, routing
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline

from shared.api import answers
from shared.api.errors import Error

ASSETS = "/docs/assets"
# No online validator badge: it would send the document's address to validator.swagger.io.
SWAGGER_UI = {"validatorUrl": None}
ERROR_REF = {"$ref": "#/components/schemas/Error"}
MEANING = {
    400: "The request cannot be read.",
    401: "No bearer token, or one the platform does not know.",
    403: "The caller's role, tenant or service may not do this.",
    404: "No such thing for this caller: another tenant's is as absent as one that never was.",
    409: "It conflicts with the state of what it acts on, or with an earlier call under the same `Idempotency-Key`.",
    422: "A field breaks a rule; `field` names it.",
    429: "This caller sent more requests than its rate limit; `Retry-After` says in how many seconds to try again.",
    503: "A service the call needs (Kafka, or the service behind the gateway) did not answer in time. Retry, with "
         "the same `Idempotency-Key` if you gave one.",
}


def app(title: str, description: str, lifespan: Callable[[FastAPI], AbstractAsyncContextManager]) -> FastAPI:
    """A FastAPI app with /openapi.json as described above and /docs served offline."""
    created = FastAPIOffline(title=title, version="1", description=description, lifespan=lifespan,
                             static_url=ASSETS, swagger_ui_parameters=SWAGGER_UI, redoc_url=None)
    created.openapi = lambda: document(created)
    return created


def describe(api: FastAPI, behind: tuple[APIRouter, ...] = (),
             decided: Mapping[Callable, Mapping[str, int]] | None = None, limited: bool = False) -> None:
    """Document as part of `api`'s own API the routes of `behind` (the routers of the services it
    passes calls to) that one of its undocumented pass-through routes forwards, with the errors that
    route adds on the way. `decided`: the functions (endpoints among them) that answer an error whose
    status is looked up at run time, each with its table of error code -> status. `limited`: every
    call may be refused for the caller's rate limit."""
    api.openapi = lambda: document(api, behind, decided, limited)


def document(api: FastAPI, behind: tuple[APIRouter, ...] = (),
             decided: Mapping[Callable, Mapping[str, int]] | None = None, limited: bool = False) -> dict:
    if api.openapi_schema is None:
        served = [r for r in _served(api.routes) if isinstance(getattr(r, "dependant", None), Dependant)]
        passes = [r for r in served if not r.include_in_schema]
        upstream = [(route, via) for router in behind for route in _served(router.routes) if route.include_in_schema
                    and (via := next((p for p in passes if p.path_regex.match(route.path)
                                      and route.methods <= p.methods), None))]
        doc = get_openapi(title=api.title, version=api.version, description=api.description,
                          routes=[*api.routes, *(route for route, _ in upstream)],
                          separate_input_output_schemas=api.separate_input_output_schemas)
        own = [(r, None) for r in served if r.include_in_schema]
        for route, via in own + upstream:
            for method in route.methods:
                errors = answers.errors(route, *filter(None, [via]), decided=decided)
                if limited:
                    errors[429] = {"rate_limited"}
                _declare(doc["paths"][route.path_format][method.lower()], errors, route.path)
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 body, not this API's
            schemas.pop(unused, None)
        error = Error.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, schema in {**error.pop("$defs"), "Error": error}.items():
            if schemas.setdefault(name, schema) != schema:
                raise ValueError(f"components.schemas.{name}: a model of the API has the name of the error shape's")
        api.openapi_schema = doc
    return api.openapi_schema


def _served(routes: list) -> Iterator:
    """The routes as served, with their full paths (newer FastAPI keeps an included router whole)."""
    expand = getattr(routing, "iter_route_contexts", None)
    return expand(routes) if expand else iter(routes)


def _declare(operation: dict, errors: answers.Statuses, path: str) -> None:
    """Each error the operation can answer, in the one error shape (what the route declares itself
    prevails), and a tag: its area, the segment after /v1/, unless it has tags of its own."""
    responses = operation["responses"]
    if "HTTPValidationError" in str(responses.get("422")):
        del responses["422"]
    for status, codes in errors.items():
        responses[str(status)] = {**_response(status, codes), **responses.get(str(status), {})}
    for status, response in responses.items():
        if status[0] in "45":
            response.setdefault("content", {"application/json": {"schema": ERROR_REF}})
    operation["responses"] = dict(sorted(responses.items()))
    operation["tags"] = operation.get("tags") or [path.removeprefix("/v1/").split("/")[0]]


def _response(status: int, codes: set[str]) -> dict:
    known = sorted(c for c in codes if c)
    meaning = MEANING.get(status, "")
    listed = f" Codes: {', '.join(f'`{c}`' for c in known)}." if known else ""
    response = {"description": f"{HTTPStatus(status).phrase}. {meaning}{listed}",
                "content": {"application/json": {"schema": ERROR_REF}}}
    if known:
        response["content"]["application/json"]["example"] = {"error": {"code": known[0], "message": meaning}}
    if status == 401:
        response["headers"] = {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}}
    if status == 429:
        response["headers"] = {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}}
    return response
