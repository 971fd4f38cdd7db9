#!/usr/bin/env bash
# Installs what tests/unit/test_deploy_manifests.py checks the deployment files with, at pinned
# versions: kubeconform and kustomize (built by `go install`), and the schemas they are checked
# against, taken from the projects' own published packages (deploy/k8s/schemas/README.md):
#   Kubernetes' kinds        PyPI kubernetes-validate (JSON schemas per Kubernetes version)
#   Strimzi's Kafka, KafkaNodePool, KafkaTopic
#                            Maven Central io.strimzi:api and io.strimzi:crd-generator: the CRDs
#                            Strimzi publishes, generated again here (needs Java 21 or later)
#   KEDA's ScaledObject      Go module github.com/kedacore/keda/v2 (config/crd/bases)
#   the Compose Specification  Go module github.com/compose-spec/compose-go/v2 (schema/compose-spec.json)
# Everything goes under $HPS_MANIFEST_TOOLS (default ~/.cache/hps/manifest-tools). A second run with
# the same versions finds everything there and returns at once; changing a version below rebuilds.
# Usage: install-manifest-tools.sh [--print-dir]
set -euo pipefail

KUBECONFORM_VERSION=v0.8.0
KUSTOMIZE_VERSION=v5.8.2
KUBERNETES_VERSION=1.35.0
KUBERNETES_VALIDATE_VERSION=1.37.0
STRIMZI_VERSION=1.2.0
KEDA_VERSION=v2.20.2
COMPOSE_GO_VERSION=v2.10.2

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${HPS_MANIFEST_TOOLS:-$HOME/.cache/hps/manifest-tools}"
if [ "${1:-}" = "--print-dir" ]; then
  echo "$dir"
  exit 0
fi

# What is installed, with the converter that made the schemas: the tests check it is this.
versions="KUBECONFORM_VERSION=$KUBECONFORM_VERSION
KUSTOMIZE_VERSION=$KUSTOMIZE_VERSION
KUBERNETES_VERSION=$KUBERNETES_VERSION
KUBERNETES_VALIDATE_VERSION=$KUBERNETES_VALIDATE_VERSION
STRIMZI_VERSION=$STRIMZI_VERSION
KEDA_VERSION=$KEDA_VERSION
COMPOSE_GO_VERSION=$COMPOSE_GO_VERSION
CONVERT_SHA256=$(sha256sum "$root/deploy/k8s/schemas/convert.py" | cut -d' ' -f1)"
installed() {
  [ -f "$dir/versions" ] && [ "$(cat "$dir/versions")" = "$versions" ] \
    && [ -x "$dir/bin/kubeconform" ] && [ -x "$dir/bin/kustomize" ] && [ -f "$dir/schemas/compose-spec.json" ]
}
installed && exit 0

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "install-manifest-tools: $1 is needed: $2" >&2; exit 1; }
}
need go "the Go toolchain builds kubeconform and kustomize"
need mvn "Maven fetches Strimzi's artifacts (bash deploy/install-prerequisites.sh installs it)"
python="${PYTHON:-}"
if [ -z "$python" ]; then
  python=python3
  [ -x "$root/.venv/bin/python" ] && python="$root/.venv/bin/python"
fi

# Strimzi's CRD generator is built for Java 21: the first Java of 21 or later found.
java21=""
for java in ${JAVA_HOME:+"$JAVA_HOME/bin/java"} /usr/lib/jvm/*/bin/java "$(command -v java || true)"; do
  [ -x "$java" ] || continue
  release="$("$java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
  if [ "${release%%.*}" -ge 21 ] 2>/dev/null; then java21="$java"; break; fi
done
[ -n "$java21" ] || { echo "install-manifest-tools: Strimzi's CRD generator needs Java 21 or later; set JAVA_HOME to one" >&2; exit 1; }

rm -rf "$dir/versions" "$dir/schemas"
mkdir -p "$dir/bin" "$dir/schemas"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

echo "Building kubeconform $KUBECONFORM_VERSION and kustomize $KUSTOMIZE_VERSION into $dir/bin"
GOBIN="$dir/bin" GOFLAGS=-buildvcs=false go install \
  -ldflags "-X main.version=$KUBECONFORM_VERSION" "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
GOBIN="$dir/bin" GOFLAGS=-buildvcs=false go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"

echo "Kubernetes $KUBERNETES_VERSION schemas from kubernetes-validate $KUBERNETES_VALIDATE_VERSION"
"$python" -m pip download -q --no-deps --only-binary=:all: -d "$work" "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
"$python" "$root/deploy/k8s/schemas/convert.py" kubernetes "$work"/kubernetes_validate-*.whl \
  "$KUBERNETES_VERSION" "$dir/schemas/kubernetes/v$KUBERNETES_VERSION"

echo "Strimzi $STRIMZI_VERSION CRDs, generated from its published API"
for artifact in api crd-generator; do
  mvn -q -B dependency:copy -Dartifact="io.strimzi:$artifact:$STRIMZI_VERSION" -DoutputDirectory="$work" \
    >"$work/maven.log" 2>&1 || { cat "$work/maven.log" >&2; exit 1; }
done
"$java21" -cp "$work/api-$STRIMZI_VERSION.jar:$work/crd-generator-$STRIMZI_VERSION.jar" io.strimzi.crdgenerator.CrdGenerator \
  --label app:strimzi --label strimzi.io/crd-install:true --target-kube 1.16+ \
  --crd-api-version v1 --api-versions v1 --storage-version v1 --yaml \
  "io.strimzi.api.kafka.model.kafka.Kafka=$work/strimzi-kafka.yaml" \
  "io.strimzi.api.kafka.model.nodepool.KafkaNodePool=$work/strimzi-kafkanodepool.yaml" \
  "io.strimzi.api.kafka.model.topic.KafkaTopic=$work/strimzi-kafkatopic.yaml"

echo "KEDA $KEDA_VERSION CRDs and the Compose Specification schema of compose-go $COMPOSE_GO_VERSION"
module_dir() {  # where the Go module cache holds module@version
  local where
  where="$(go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -d "$where" ] || { echo "install-manifest-tools: could not download the Go module $1" >&2; exit 1; }
  echo "$where"
}
keda="$(module_dir "github.com/kedacore/keda/v2@$KEDA_VERSION")"
compose="$(module_dir "github.com/compose-spec/compose-go/v2@$COMPOSE_GO_VERSION")"
"$python" "$root/deploy/k8s/schemas/convert.py" crds "$dir/schemas/crds" \
  "$work"/strimzi-*.yaml "$keda/config/crd/bases/keda.sh_scaledobjects.yaml"
cp "$compose/schema/compose-spec.json" "$dir/schemas/compose-spec.json"

echo "$versions" > "$dir/versions"
echo "Manifest tools and schemas in $dir"
