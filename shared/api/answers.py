"""Which errors a route can answer, read from its own code, so that the API document declares what
the code does rather than what someone remembered to write down.

A route answers an error when its endpoint, one of its dependencies, or a function of the
platform that they call (transitively) constructs an `ApiError` with a literal status: `require()`
gives 403, `principal()` 401, `publish()` 503, a `raise ApiError(404, ...)` in the endpoint 404.
FastAPI's own validation adds 422 where a parameter or body can be refused, and 400 where a JSON
body can be malformed. Methods of objects (`request.app.state...`) are not followed: an API error
is raised by the API layer itself, never by the domain objects it calls. A function that answers
with a status looked up at run time (a refusal's, from its code) is given with its table of code ->
status (`decided`).
"""

import ast
import inspect
import textwrap
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from types import ModuleType

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from shared.api.errors import ApiError

PACKAGES = ("shared", "services")  # whose functions are followed
Statuses = dict[int, set[str | None]]  # status -> the error codes answered with it (None: not written out)


def errors(route: APIRoute, *before: APIRoute, decided: Mapping[Callable, Mapping[str, int]] | None = None) -> Statuses:
    """The error statuses `route` can answer and their codes; `before`: routes a call passes through
    on its way to `route` (a gateway's proxy), whose errors it can answer too."""
    found: Statuses = defaultdict(set)
    decided = decided or {}
    todo, seen = [fn for r in (route, *before) for fn in _callables(r.dependant)], set()
    while todo:
        fn = todo.pop()
        if fn in seen:
            continue
        seen.add(fn)
        for code, status in decided.get(fn, {}).items():
            found[status].add(code)
        raised, called = _read(fn)
        for status, code in raised:
            if status is None and fn not in decided:
                raise ValueError(f"{fn.__module__}.{fn.__qualname__} raises an ApiError whose status is not written "
                                 "out: give the function with its table of code -> status as `decided`")
            if status is not None:
                found[status].add(code)
        todo.extend(called)
    if route.body_field is not None:
        found[400].add("malformed_json")
    if route.body_field is not None or any(_refusable(param, kind) for kind, param in _parameters(route.dependant)):
        found[422].add("invalid")
    return dict(found)


def _callables(dependant: Dependant) -> Iterator[Callable]:
    if inspect.isfunction(inspect.unwrap(dependant.call)):
        yield inspect.unwrap(dependant.call)
    for sub in dependant.dependencies:
        yield from _callables(sub)


def _parameters(dependant: Dependant) -> Iterator[tuple[str, object]]:
    for kind in ("path", "query", "header", "cookie"):
        for param in getattr(dependant, f"{kind}_params"):
            yield kind, param
    for sub in dependant.dependencies:
        yield from _parameters(sub)


def _refusable(param, kind: str) -> bool:
    """Whether validation can refuse the parameter: anything but an unconstrained text, or missing."""
    info = param.field_info
    plain_text = info.annotation in (str, str | None) and not info.metadata
    return not plain_text or (kind != "path" and info.is_required())


@cache
def _read(fn: Callable) -> tuple[frozenset[tuple[int | None, str | None]], tuple[Callable, ...]]:
    """The (status, code) of each ApiError `fn` constructs (None where not written out), and the
    platform's functions it calls."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return frozenset(), ()
    names = {**fn.__globals__, **inspect.getclosurevars(fn).nonlocals}
    raised, called = set(), []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        target = _resolve(node.func, names)
        if target is ApiError:
            given = dict(zip(("http_status", "code"), node.args)) | {k.arg: k.value for k in node.keywords}
            status, code = given.get("http_status"), given.get("code")
            if isinstance(status, ast.Constant) and isinstance(status.value, int):
                raised.add((status.value, code.value if isinstance(code, ast.Constant) else None))
            else:
                raised.add((None, None))
        elif inspect.isfunction(target) and inspect.unwrap(target).__module__.partition(".")[0] in PACKAGES:
            called.append(inspect.unwrap(target))
    return frozenset(raised), tuple(called)


def _resolve(expr: ast.expr, names: dict):
    """What a called name (`f`, `module.f`) refers to; None for anything else (methods of objects)."""
    if isinstance(expr, ast.Name):
        return names.get(expr.id)
    if isinstance(expr, ast.Attribute):
        owner = _resolve(expr.value, names)
        if isinstance(owner, ModuleType):
            return getattr(owner, expr.attr, None)
    return None
