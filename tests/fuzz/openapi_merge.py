"""The document the fuzz test generates requests from: the gateway's own OpenAPI document, which
covers everything a caller reaches through it (its routes and the finance ledger's and ops' that it
proxies), built from the app without starting it, less what cannot be fuzzed (streams), plus hints
that get generated requests past validation (see narrow).

`python -m tests.fuzz.openapi_merge [FILE]` writes it as JSON (stdout by default), e.g. for the
schemathesis CLI."""

import copy
import json
import sys

# Answers forever by design (server-sent events): nothing to fuzz, and every call would hang.
STREAMING = {"/v1/ops/stream"}
# ?follow=true on the tail is a stream too: only its backlog answer (follow=false) is fuzzed.
FOLLOWING = ("/v1/ops/tail", "follow")


def gateway_doc() -> dict:
    from services.gateway.app import create_app
    from shared.settings import get_settings

    # .openapi() reads the routes only: no lifespan, so no broker or database is needed.
    return create_app(get_settings()).openapi()


def fuzzable(gateway: dict) -> dict:
    doc = copy.deepcopy(gateway)
    for path in STREAMING:
        doc["paths"].pop(path, None)
    path, name = FOLLOWING
    for operation in doc["paths"][path].values():
        for parameter in operation["parameters"]:
            if parameter["name"] == name:
                parameter["required"] = True
                parameter["schema"] = {"type": "boolean", "enum": [False]}
    return doc


# Hints: the schema is looser than the API (a period in 2000-01..2099-12, amounts in pence, free
# text without control characters, names from the catalogues), so hardly a generated request would
# get past validation and nothing behind it would be fuzzed. Each body and period parameter becomes
# anyOf [the same with every hint applied, as documented]: 0000-01 or "NaN" stay among the inputs.
PERIOD = "^20[0-9]{2}-(0[1-9]|1[0-2])$"
DECIMAL = "^[1-9][0-9]{0,3}([.][0-9]{1,2})?$"
PROSE = "^[^\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f]+$"
TEXT_FIELDS = ("description", "reason")


def narrow(doc: dict) -> dict:
    from shared.catalogue import load_all
    from shared.topics import SERVICES

    for operations in doc["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "period":
                    parameter["schema"] = _either(_strict({**parameter["schema"], "pattern": PERIOD}),
                                                  parameter["schema"])
    schemas = doc["components"]["schemas"]
    strict = {name: _strict(schema) for name, schema in schemas.items() if "properties" in schema}
    if "NewSharedCost" in strict:
        strict["NewSharedCost"]["properties"]["service"] = {"type": "string", "enum": list(SERVICES)}
    if "NewRequest" in strict:
        strict["NewRequest"] = _per_request_type(strict["NewRequest"], load_all(None))
    for name, hinted in strict.items():
        schemas[name] = _either(hinted, schemas[name])
    return doc


def _per_request_type(base: dict, catalogues: dict) -> dict:
    """One variant per request type of the catalogues, with the one measure its price model needs."""
    variants = []
    for service, catalogue in sorted(catalogues.items()):
        for name, request_type in sorted(catalogue.request_types.items()):
            if request_type.recurring:
                continue
            measure = request_type.price.measure
            properties = {k: v for k, v in base["properties"].items()
                          if k not in {"quantity", "hours", "value"} - {measure}}
            properties.update(service={"type": "string", "enum": [service]}, type={"type": "string", "enum": [name]})
            if "anyOf" in (needed := properties[measure]):
                properties[measure] = {**needed, "anyOf": [b for b in needed["anyOf"] if b.get("type") != "null"]}
            variants.append({**base, "properties": properties, "required": [*base["required"], measure]})
    return {"anyOf": variants}


def _either(hinted: dict, documented: dict) -> dict:
    return {"anyOf": [hinted, documented]}


def _strict(node, name: str | None = None):
    """`node` with every hint applied in place."""
    if isinstance(node, list):
        return [_strict(item, name) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: ({prop: _strict(schema, prop) for prop, schema in value.items()} if key == "properties"
                  else _strict(value, name if key == "anyOf" else None))
            for key, value in node.items()}
    if node.get("pattern", "").endswith("(0[1-9]|1[0-2])$"):
        node["pattern"] = PERIOD
    if name in TEXT_FIELDS and node.get("type") == "string":
        node["pattern"] = PROSE
    branches = node.get("anyOf", [])
    if any(b.get("type") == "number" for b in branches):
        # Amounts travel as strings; a generated float has more decimal places than pence.
        node["anyOf"] = [{**b, "type": "integer"} if b.get("type") == "number"
                         else {**b, "pattern": DECIMAL} if b == {"type": "string"} else b for b in branches]
    return node


def merged_openapi() -> dict:
    return narrow(fuzzable(gateway_doc()))


if __name__ == "__main__":
    text = json.dumps(merged_openapi(), indent=1)
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as out:
            out.write(text)
    else:
        print(text)
