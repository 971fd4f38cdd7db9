"""JSON schemas for kubeconform from the published definitions; run by deploy/install-manifest-tools.sh.

    convert.py kubernetes WHEEL VERSION OUT   Kubernetes' own kinds, from the kubernetes-validate wheel
    convert.py crds OUT CRD.yaml...           custom resources, from their CustomResourceDefinitions

Kubernetes: the wheel carries, per Kubernetes version, one strict schema per kind (`deployment-apps-v1.json`)
that refers into `_definitions.json` by an absolute `$ref`; written here with those references made relative
to the file, so that kubeconform resolves them on disk and fetches nothing.

CRDs: each served version's openAPIV3Schema becomes `<group>/<kind>_<version>.json`, as kubeconform's
scripts/openapi2jsonschema.py makes them: every object that lists its properties refuses others, the root
included, except an object the CRD marks x-kubernetes-preserve-unknown-fields; `format: int-or-string`
becomes a string-or-integer.
"""

import json
import sys
import zipfile
from pathlib import Path

import yaml

DEFINITIONS = "_definitions.json"


def kubernetes(wheel: Path, version: str, out: Path) -> int:
    prefix = f"kubernetes_validate/kubernetes-json-schema/v{version}-local-strict/"
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if not name.startswith(prefix) or not name.endswith(".json"):
                continue
            filename = name.removeprefix(prefix)
            schema = json.loads(archive.read(name))
            schema.pop("$id", None)
            text = json.dumps(schema, indent=1)
            # "/api/_definitions.json#/$defs/…": within _definitions.json itself, or beside the kind's file.
            text = text.replace(f'"/api/{DEFINITIONS}#', '"#' if filename == DEFINITIONS else f'"{DEFINITIONS}#')
            (out / filename).write_text(text)
            written += 1
    if not (out / DEFINITIONS).exists():
        raise SystemExit(f"{wheel.name} has no schemas for Kubernetes {version}")
    return written


def crds(out: Path, files: list[Path]) -> int:
    written = 0
    for file in files:
        for crd in yaml.safe_load_all(file.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            for version in spec["versions"]:
                schema = version.get("schema", {}).get("openAPIV3Schema")
                if schema is None:
                    continue
                target = out / spec["group"] / f"{spec['names']['kind']}_{version['name']}.json".lower()
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(json.dumps(_int_or_string(_closed(schema)), indent=1))
                written += 1
    return written


def _closed(node):
    """additionalProperties: false on every object that lists its properties, as kubectl validates."""
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node \
                and not node.get("x-kubernetes-preserve-unknown-fields"):
            node["additionalProperties"] = False
        for value in node.values():
            _closed(value)
    elif isinstance(node, list):
        for value in node:
            _closed(value)
    return node


def _int_or_string(node):
    if isinstance(node, dict):
        if node.get("format") == "int-or-string":
            return {"oneOf": [{"type": "string"}, {"type": "integer"}]}
        return {key: _int_or_string(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_int_or_string(value) for value in node]
    return node


if __name__ == "__main__":
    match sys.argv[1:]:
        case ["kubernetes", wheel, version, out]:
            print(f"{kubernetes(Path(wheel), version, Path(out))} Kubernetes {version} schemas")
        case ["crds", out, *files] if files:
            print(f"{crds(Path(out), [Path(f) for f in files])} custom resource schemas")
        case _:
            raise SystemExit(__doc__)
