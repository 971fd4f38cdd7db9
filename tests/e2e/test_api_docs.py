"""The API document: one for everything a caller reaches through the gateway, each operation with
its security scheme and the errors it can answer, read in a browser that reaches nothing but this
machine."""

import uuid
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.platform import ROOT
from tests.e2e.test_operations import CHROMIUM_FLAGS, chromium  # noqa: F401 (a fixture)

ARTIFACTS = ROOT / "artifacts"
ERROR = {"$ref": "#/components/schemas/Error"}
# One operation of each API behind the gateway, as Swagger UI lists them.
LISTED = [("post", "/v1/requests"), ("get", "/v1/requests/{request_id}/history"), ("get", "/v1/commands/{command_id}"),
          ("get", "/v1/finance/statements"), ("post", "/v1/finance/shared-costs"), ("get", "/v1/ops/lag"),
          ("post", "/v1/ops/dead-letters/{letter_id}/replay")]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@pytest.fixture(scope="module")
def document(platform) -> dict:
    answer = httpx.get(f"{platform.url}/openapi.json", timeout=30)
    assert answer.status_code == 200
    return answer.json()


def errors_of(document: dict, method: str, path: str) -> set[int]:
    responses = document["paths"][path][method]["responses"]
    for status, response in responses.items():
        if status.startswith(("4", "5")):
            assert response["content"]["application/json"]["schema"] == ERROR, f"{method} {path} {status}"
    return {int(s) for s in responses if s.startswith(("4", "5"))}


def test_the_gateway_documents_every_route_a_caller_reaches_through_it(document):
    paths = set(document["paths"])
    # Its own routes, the finance ledger's and the ops service's, which it proxies.
    assert {path for _, path in LISTED} | {"/v1/requests/{request_id}/transitions", "/v1/payroll/runs",
                                           "/v1/finance/periods/{period}/close", "/v1/finance/statements/{number}",
                                           "/v1/ops/dead-letters", "/v1/catalogue"} <= paths
    # ... but not the pass-through routes that carry them, nor what is no API (health, metrics, pages).
    assert not any("{path}" in p for p in paths)
    assert not paths & {"/health", "/metrics", "/ops", "/docs"}


def test_every_operation_carries_the_bearer_scheme_and_the_errors_it_can_answer(document):
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert {"code", "message", "field"} <= set(document["components"]["schemas"]["ErrorDetail"]["properties"])
    assert document["components"]["schemas"]["Error"]["required"] == ["error"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation["security"] == [{"HTTPBearer": []}], f"{method} {path}"
            errors = errors_of(document, method, path)
            # Every call may be refused for its caller's rate limit at the gateway.
            assert {401, 429} <= errors, f"{method} {path}: {errors}"
            assert "retry-after" in {h.lower() for h in operation["responses"]["429"]["headers"]}
            assert "HTTPValidationError" not in str(operation), "FastAPI's 422 body is not what the API answers"

    # Derived from each route's code: a role check is a 403, a path id a 404 where it is looked up, a
    # state that forbids it a 409, input a 422, publishing to Kafka a 503.
    assert errors_of(document, "post", "/v1/requests") == {400, 401, 403, 409, 422, 429, 503}
    assert {404, 409, 422, 503} <= errors_of(document, "post", "/v1/requests/{request_id}/transitions")
    assert errors_of(document, "get", "/v1/requests/{request_id}") == {401, 404, 422, 429}
    assert errors_of(document, "get", "/v1/catalogue") == {401, 429}  # any role may read it, and it takes no input
    assert {403, 404, 409, 422, 503} <= errors_of(document, "post", "/v1/finance/corrections")
    assert {403, 409} <= errors_of(document, "post", "/v1/finance/periods/{period}/close")
    assert 404 in errors_of(document, "get", "/v1/finance/statements/{number}")
    assert {403, 404, 409, 503} <= errors_of(document, "post", "/v1/ops/dead-letters/{letter_id}/replay")
    lag = errors_of(document, "get", "/v1/ops/lag")
    assert 403 in lag and not lag & {404, 409, 422}
    # The gateway answers 503 for a finance or ops route whose service does not answer.
    assert 503 in errors_of(document, "get", "/v1/finance/statements")


@pytest.mark.parametrize("token, method, path, body", [
    (None, "get", "/v1/catalogue", None),
    ("dev-council", "get", "/v1/ops/lag", None),
    ("dev-council", "get", f"/v1/requests/{uuid.uuid4()}", None),
    ("dev-council", "get", "/v1/requests?limit=0", None),
    ("dev-staff-it", "post", "/v1/finance/shared-costs", {"service": "it"}),
    ("dev-finance", "get", "/v1/finance/statements/HPS-209912-99999", None),
    ("dev-ops", "post", "/v1/ops/dead-letters/nothing-here/replay", None),
])
def test_what_the_api_answers_is_documented(platform, document, token, method, path, body):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = httpx.request(method, f"{platform.url}{path}", headers=headers, json=body, timeout=30)
    template = next(p for p in document["paths"] if _matches(p, path.split("?")[0]))
    assert answer.status_code in errors_of(document, method, template), answer.text
    assert set(answer.json()["error"]) >= {"code", "message"}


def _matches(template: str, path: str) -> bool:
    parts, wanted = template.split("/"), path.split("/")
    return len(parts) == len(wanted) and all(p == w or p.startswith("{") for p, w in zip(parts, wanted))


@pytest.mark.parametrize("app", ["gateway", "ledger", "ops"])
def test_each_api_serves_its_docs_page_and_its_assets_itself(platform, app):
    base = {"gateway": platform.url, "ledger": f"http://127.0.0.1:{platform.finance_port}",
            "ops": platform.ops_url}[app]
    html = httpx.get(f"{base}/docs", timeout=30).text
    assert "cdn.jsdelivr.net" not in html and "/docs/assets/swagger-ui-bundle.js" in html
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"):
        assert httpx.get(f"{base}/docs/assets/{asset}", timeout=30).status_code == 200, asset
    # No Redoc page: it would load its logo from redoc.ly.
    assert httpx.get(f"{base}/redoc", timeout=30).status_code == 404


async def test_the_docs_page_lists_every_api_with_nothing_but_this_machine_reachable(platform, chromium):  # noqa: F811
    from playwright.async_api import async_playwright

    fetched, blocked = [], []

    async def only_this_machine(route):
        url = route.request.url
        if urlsplit(url).scheme in ("data", "blob") or urlsplit(url).hostname in LOCAL_HOSTS:
            fetched.append(url)
            await route.continue_()
        else:
            blocked.append(url)
            await route.abort()

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = await browser.new_page(viewport={"width": 1400, "height": 1200})
        await page.route("**/*", only_this_machine)
        await page.goto(f"{platform.url}/docs")
        # Swagger UI, loaded from the gateway, renders an operation block for each API behind it.
        for method, path in LISTED:
            block = page.locator(f'.opblock-{method} .opblock-summary-path[data-path="{path}"]')
            await block.wait_for(timeout=30_000)
        assert await page.locator(".btn.authorize").is_visible()  # the bearer scheme, to sign in with a token
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "api-docs.png"))
        await browser.close()
    assert {"swagger-ui-bundle.js", "swagger-ui.css"} <= {url.rsplit("/docs/assets/", 1)[-1] for url in fetched}
    assert blocked == []
