"""One OpenAPI document for everything a caller reaches through the gateway: the gateway's own
routes plus the finance ledger's and ops' (which it proxies), built from the apps without starting them.

`python -m tests.fuzz.openapi_merge [FILE]` writes it as JSON (stdout by default), e.g. for the
schemathesis CLI."""

import copy
import json
import sys

# Answers forever by design (server-sent events): nothing to fuzz, and every call would hang.
STREAMING = {"/v1/ops/stream"}
# Not part of the API a caller uses; /health is what the fixtures wait on.
SKIPPED = {"/health", "/metrics"}
# ?follow=true on the tail is a stream too: only its backlog answer (follow=false) is fuzzed.
FOLLOWING = ("/v1/ops/tail", "follow")


def app_docs() -> list[dict]:
    from services.finance.ledger.app import create_app as finance
    from services.gateway.app import create_app as gateway
    from services.ops.app import create_app as ops
    from shared.settings import get_settings

    # .openapi() reads the routes only: no lifespan, so no broker or database is needed.
    return [create_app(get_settings()).openapi() for create_app in (gateway, finance, ops)]


def merge(gateway: dict, *others: dict) -> dict:
    doc = copy.deepcopy(gateway)
    doc["paths"] = {p: ops for p, ops in doc["paths"].items() if p not in SKIPPED}
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for other in others:
        for path, operations in other["paths"].items():
            if path in SKIPPED:
                continue
            if path in doc["paths"]:
                raise ValueError(f"{path} is served by two apps")
            doc["paths"][path] = copy.deepcopy(operations)
        for name, schema in other.get("components", {}).get("schemas", {}).items():
            if name in schemas and schemas[name] != schema:
                raise ValueError(f"components.schemas.{name} differs between the apps")
            schemas[name] = copy.deepcopy(schema)
    for path in STREAMING:
        doc["paths"].pop(path, None)
    for operations in doc["paths"].values():
        for operation in operations.values():
            # The harness sends Authorization itself, one principal per run: generating it
            # would only ever test "unknown token".
            operation["parameters"] = [p for p in operation.get("parameters", [])
                                       if not (p["in"] == "header" and p["name"].lower() == "authorization")]
    path, name = FOLLOWING
    for operation in doc["paths"][path].values():
        for parameter in operation["parameters"]:
            if parameter["name"] == name:
                parameter["required"] = True
                parameter["schema"] = {"type": "boolean", "enum": [False]}
    return doc


def merged_openapi() -> dict:
    return merge(*app_docs())


if __name__ == "__main__":
    text = json.dumps(merged_openapi(), indent=1)
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as out:
            out.write(text)
    else:
        print(text)
