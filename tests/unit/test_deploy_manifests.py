"""The deployment files a platform team applies: docker-compose.yml and deploy/k8s.

Each is checked against the published schema of what reads it — kubeconform with the Kubernetes,
Strimzi and KEDA schemas, the Compose Specification with jsonschema — and then against the code
it deploys: settings that exist, topics as shared/topics.py declares them, consumer groups and
topics the services really use. The validators and schemas are installed beforehand, offline from
then on, by deploy/install-manifest-tools.sh; without them these tests fail, saying so.
"""

import ast
import base64
import hashlib
import importlib.util
import inspect
import json
import os
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from services.finance.ledger.engine import GROUP as LEDGER_GROUP
from services.finance.ledger.engine import RechargeEngine
from shared.api.auth import TokenFile
from shared.request_engine.worker import group
from shared.settings import Settings
from shared.topics import BY_NAME, SERVICES, TOPICS, requests_topic

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
INSTALL = ROOT / "deploy" / "install-manifest-tools.sh"
IMAGE = "hps-back-office"
SETTINGS = {f"HPS_{name.upper()}" for name in Settings.model_fields} | {"FORWARDED_ALLOW_IPS"}  # uvicorn's
# Every consumer group KEDA may scale on, and the topics it reads, as the code has them.
GROUP_TOPICS = {group(s): {requests_topic(s)} for s in SERVICES} | {
    LEDGER_GROUP: set(inspect.signature(RechargeEngine.runner).parameters["topics"].default)}
# The port each service answers /health on (workers: HPS_METRICS_PORT as deployed).
HEALTH_PORTS = {"gateway": 8000, "ledger": 8001, "ops": 8002} | {s: 9100 for s in SERVICES}


def _tools() -> Path:
    """Where install-manifest-tools.sh put the validators, checked to be the versions it pins."""
    where = Path(os.environ.get("HPS_MANIFEST_TOOLS", Path.home() / ".cache" / "hps" / "manifest-tools"))
    pinned = re.findall(r"^[A-Z_]+_VERSION=[^$\s]+$", INSTALL.read_text(), re.MULTILINE)
    converter = hashlib.sha256((K8S / "schemas" / "convert.py").read_bytes()).hexdigest()
    stamp = where / "versions"
    if not stamp.exists() or stamp.read_text().split() != [*pinned, f"CONVERT_SHA256={converter}"]:
        pytest.fail(f"the manifest validators are missing or outdated in {where}: "
                    f"run `bash deploy/install-manifest-tools.sh` (or `make manifest-tools`)")
    return where


@pytest.fixture(scope="module")
def tools() -> Path:
    return _tools()


def _version(tools: Path, name: str) -> str:
    return dict(line.split("=", 1) for line in (tools / "versions").read_text().split())[name]


def _run(args: list) -> str:
    result = subprocess.run([str(a) for a in args], check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{Path(args[0]).name} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _build(tools: Path, folder: Path) -> str:
    return _run([tools / "bin" / "kustomize", "build", folder])


@pytest.fixture(scope="module")
def built(tools) -> dict[str, str]:
    return {"base": _build(tools, K8S / "base"), "example": _build(tools, K8S / "overlays" / "example")}


@pytest.fixture(scope="module")
def example(built) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(built["example"]) if doc]


def _of(resources: list[dict], kind: str) -> dict[str, dict]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _runs_our_code(command: list[str]) -> bool:
    """`python -m <a module of ours>`, `hps migrate`, `hps kafka topics`, or `python -c` code whose imports exist."""
    match command:
        case ["python", "-m", module]:
            return importlib.util.find_spec(module) is not None
        case ["python", "-c", code]:
            imports = [node for node in ast.walk(ast.parse(code)) if isinstance(node, ast.ImportFrom)]
            return bool(imports) and all(hasattr(importlib.import_module(node.module), alias.name)
                                         for node in imports for alias in node.names)
        case _:
            return command in (["hps", "migrate"], ["hps", "kafka", "topics"])


# ---- Kubernetes ------------------------------------------------------------------------------

def test_every_manifest_is_valid_against_the_kubernetes_strimzi_and_keda_schemas(tools, built, tmp_path):
    # The base as it stands and the example overlay as a platform team would apply it.
    files = []
    for name, text in built.items():
        files.append(tmp_path / f"{name}.yaml")
        files[-1].write_text(text)
    schemas = tools / "schemas"
    out = _run([tools / "bin" / "kubeconform", "-strict", "-summary", "-output", "json",
                "-kubernetes-version", _version(tools, "KUBERNETES_VERSION"),
                "-schema-location", str(schemas) + "/kubernetes/{{.NormalizedKubernetesVersion}}/"
                                                   "{{.ResourceKind}}{{.KindSuffix}}.json",
                "-schema-location", str(schemas) + "/crds/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json",
                *files])
    summary = json.loads(out)["summary"]
    # A kind without a schema is an error, never a skip: everything was checked.
    assert summary["invalid"] == summary["errors"] == summary["skipped"] == 0, out
    assert summary["valid"] == sum(1 for t in built.values() for doc in yaml.safe_load_all(t) if doc)


def test_every_file_of_the_base_is_in_its_kustomization():
    listed = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())["resources"]
    on_disk = sorted(p.name for p in (K8S / "base").glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == on_disk


def test_each_service_is_a_deployment_with_probes_limits_a_budget_and_no_root(example):
    deployments = _of(example, "Deployment")
    assert set(deployments) == {"gateway", *SERVICES, "ledger", "ops"}
    budgets = _of(example, "PodDisruptionBudget").values()
    assert {b["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] for b in budgets} == set(deployments)
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        [container] = pod["containers"]
        assert _runs_our_code(container["command"]), container["command"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert set(ports.values()) == {HEALTH_PORTS[name]}, name
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            check = container[probe]["httpGet"]
            assert check["path"] == "/health" and check["port"] in ports, (name, probe)
        assert set(container["resources"]) == {"requests", "limits"}, name
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]) & set(container["resources"]["limits"])
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False, name
        # The root file system is read-only: HPS_STATE_DIR and /tmp are emptyDirs.
        empty = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        mounted = {m["mountPath"] for m in container["volumeMounts"] if m["name"] in empty}
        assert {"/var/lib/hps", "/tmp"} <= mounted, name


def test_the_services_reached_over_http_have_a_service_on_their_port(example):
    services = _of(example, "Service")
    assert set(services) == {"gateway", "ledger", "ops"}
    for name, service in services.items():
        assert service["spec"]["selector"] == {"app.kubernetes.io/name": name}
        assert [p["port"] for p in service["spec"]["ports"]] == [HEALTH_PORTS[name]]
    gateway = _env(example, _of(example, "Deployment")["gateway"])
    assert gateway["HPS_FINANCE_URL"] == "http://ledger:8001" and gateway["HPS_OPS_URL"] == "http://ops:8002"


def _env(resources: list[dict], workload: dict) -> dict[str, str]:
    """A workload's environment: its ConfigMaps' entries, then its own (a Secret's shows as `secret:name`)."""
    config_maps = _of(resources, "ConfigMap")
    [container] = workload["spec"]["template"]["spec"]["containers"]
    env = {}
    for source in container.get("envFrom", []):
        env |= config_maps[source["configMapRef"]["name"]]["data"]
    for variable in container.get("env", []):
        secret = variable.get("valueFrom", {}).get("secretKeyRef")
        env[variable["name"]] = f"secret:{secret['name']}" if secret else variable["value"]
    return env


def test_every_environment_variable_names_a_setting_and_production_has_what_it_needs(example):
    workloads = [*_of(example, "Deployment").values(), *_of(example, "Job").values()]
    for workload in workloads:
        env = _env(example, workload)
        assert set(env) <= SETTINGS, f"{workload['metadata']['name']}: no such setting {set(env) - SETTINGS}"
        assert env["HPS_ENVIRONMENT"] == "production"
        assert env["HPS_DATABASE_URL"].startswith("secret:hps-database")
        assert env["HPS_TOKENS_FILE"] and env["HPS_KAFKA_BOOTSTRAP"]
        assert env["HPS_STATE_DIR"] == "/var/lib/hps"
    for name in SERVICES:
        assert _env(example, _of(example, "Deployment")[name])["HPS_METRICS_PORT"] == str(HEALTH_PORTS[name])


def _settings(env: dict[str, str], monkeypatch) -> Settings:
    """What a process started with exactly `env` would run with."""
    for name in [n for n in os.environ if n.startswith("HPS_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    return Settings(_env_file=None)


def test_each_workload_starts_with_settings_production_accepts(example, monkeypatch):
    # Production refuses a start without a PostgreSQL URL, a Kafka cluster and a tokens file.
    [database] = [s for name, s in _of(example, "Secret").items() if name.rsplit("-", 1)[0] == "hps-database"]
    url = base64.b64decode(database["data"]["url"]).decode()
    for workload in [*_of(example, "Deployment").values(), *_of(example, "Job").values()]:
        env = {name: url if value.startswith("secret:hps-database") else value
               for name, value in _env(example, workload).items()}
        settings = _settings(env, monkeypatch)
        assert settings.environment == "production" and settings.database_url == url
        assert str(settings.state_dir) == "/var/lib/hps"


def mounted(example, deployment: str, setting: str, secret: str) -> Path:
    """The file a setting names, checked to lie in the read-only mount of the Secret `secret`."""
    workload = _of(example, "Deployment")[deployment]
    pod = workload["spec"]["template"]["spec"]
    [container] = pod["containers"]
    path = Path(_env(example, workload)[setting])
    [volume] = [v for v in pod["volumes"] if v.get("secret", {}).get("secretName", "").startswith(secret)]
    [mount] = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    assert Path(mount["mountPath"]) == path.parent and mount["readOnly"] is True, deployment
    return path


def test_the_api_processes_mount_the_tokens_where_the_setting_says(example):
    for name in ("gateway", "ledger", "ops"):
        mounted(example, name, "HPS_TOKENS_FILE", "hps-tokens")


def test_the_ledger_signs_with_the_key_mounted_where_the_setting_says(example):
    key = mounted(example, "ledger", "HPS_STATEMENT_SIGNING_KEY", "hps-statement-signing")
    assert key.name == "statement-signing-key.pem"  # the file the overlay's Secret holds


def test_every_workload_runs_the_one_image(example):
    workloads = [*_of(example, "Deployment").values(), *_of(example, "Job").values()]
    images = {c["image"] for w in workloads for c in w["spec"]["template"]["spec"]["containers"]}
    assert images == {"registry.example.org/hps/back-office:0.1.0"}  # the overlay's name for hps-back-office


def test_the_migration_job_runs_hps_migrate(example):
    [job] = _of(example, "Job").values()
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["hps", "migrate"]
    # As the tables' owner, which no service is.
    assert _env(example, job)["HPS_DATABASE_OWNER_URL"].startswith("secret:hps-database-owner")
    for deployment in _of(example, "Deployment").values():
        assert "HPS_DATABASE_OWNER_URL" not in _env(example, deployment)
    assert job["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_every_kafka_topic_is_declared_as_shared_topics_declares_it(example):
    topics = _of(example, "KafkaTopic")
    assert set(topics) == {t.name for t in TOPICS}
    for topic in TOPICS:
        spec = topics[topic.name]["spec"]
        assert spec["partitions"] == topic.partitions, topic.name
        assert spec["replicas"] == 3
        config = {key: str(value) for key, value in spec["config"].items()}
        assert config == topic.config() | {"min.insync.replicas": "2"}, topic.name
        assert topics[topic.name]["metadata"]["labels"]["strimzi.io/cluster"] == "hps"


def test_the_kafka_cluster_is_three_kraft_nodes_replicating_three_times_two_in_sync(example):
    [kafka] = _of(example, "Kafka").values()
    [pool] = _of(example, "KafkaNodePool").values()
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    assert pool["spec"]["replicas"] == 3 and set(pool["spec"]["roles"]) == {"controller", "broker"}
    config = kafka["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == 3 and config["min.insync.replicas"] == 2
    assert config["auto.create.topics.enable"] is False
    assert "topicOperator" in kafka["spec"]["entityOperator"]  # it creates the KafkaTopics
    # The services' bootstrap is this cluster's bootstrap Service.
    [config_map] = _of(example, "ConfigMap").values()
    host = config_map["data"]["HPS_KAFKA_BOOTSTRAP"].split(":")[0]
    assert host.split(".")[:2] == [f"{kafka['metadata']['name']}-kafka-bootstrap", kafka["metadata"]["namespace"]]


def test_keda_scales_each_worker_and_the_ledger_on_its_own_group_and_topics(example):
    scaled = _of(example, "ScaledObject")
    deployments = _of(example, "Deployment")
    assert set(scaled) == {*SERVICES, "ledger"}
    for name, scaler in scaled.items():
        spec = scaler["spec"]
        target = deployments[spec["scaleTargetRef"]["name"]]
        assert "replicas" not in target["spec"], f"{name}: KEDA owns the replicas"
        groups = {t["metadata"]["consumerGroup"] for t in spec["triggers"]}
        topics = {t["metadata"]["topic"] for t in spec["triggers"]}
        assert all(t["type"] == "kafka" for t in spec["triggers"])
        [group_] = groups
        assert topics == GROUP_TOPICS[group_], f"{name}: {group_} reads {GROUP_TOPICS[group_]}"
        assert spec["minReplicaCount"] == 1
        # More consumers than partitions would sit idle.
        assert 1 < spec["maxReplicaCount"] <= max(BY_NAME[t].partitions for t in topics), name
        env = _env(example, target)
        for trigger in spec["triggers"]:
            assert env[trigger["metadata"]["bootstrapServersFromEnv"]] == env["HPS_KAFKA_BOOTSTRAP"]
            assert trigger["metadata"]["offsetResetPolicy"] == "earliest"  # as group_consumer reads
    assert {group(s) for s in SERVICES} | {LEDGER_GROUP} == set(GROUP_TOPICS)


def test_only_the_gateway_is_reached_from_outside_the_namespace(example):
    policies = list(_of(example, "NetworkPolicy").values())
    deny = [p for p in policies if p["spec"]["podSelector"] == {} and "Ingress" in p["spec"]["policyTypes"]
            and not p["spec"].get("ingress")]
    assert deny, "a default-deny ingress policy"

    def from_outside(rule: dict) -> bool:
        peers = rule.get("from")
        return not peers or any("namespaceSelector" in p or "ipBlock" in p for p in peers)

    open_to_outside = [p["spec"]["podSelector"] for p in policies
                       if any(from_outside(rule) for rule in p["spec"].get("ingress", []))]
    assert open_to_outside == [{"matchLabels": {"app.kubernetes.io/name": "gateway"}}]
    # The platform's own pods reach only what they need; Strimzi's (the operators) are left alone.
    egress = [p["spec"]["podSelector"] for p in policies if "Egress" in p["spec"]["policyTypes"]]
    assert egress == [{"matchLabels": {"app.kubernetes.io/part-of": "hps-back-office"}}]


def test_the_example_overlay_holds_placeholders_only(example):
    secrets = _of(example, "Secret")
    assert {name.rsplit("-", 1)[0] for name in secrets} == {"hps-database", "hps-database-owner", "hps-tokens",
                                                            "hps-statement-signing"}
    tokens_file = K8S / "overlays" / "example" / "tokens.yaml"
    tokens = TokenFile.model_validate(yaml.safe_load(tokens_file.read_text())).tokens
    assert tokens and all(token.startswith("REPLACE-ME") for token in tokens)
    overlay = (K8S / "overlays" / "example" / "kustomization.yaml").read_text()
    assert "url=postgresql+psycopg://hps:CHANGE-ME@postgres.example.invalid" in overlay  # the owner
    assert "url=postgresql+psycopg://hps_app:CHANGE-ME@postgres.example.invalid" in overlay
    assert "CHANGE-ME" in (K8S / "overlays" / "example" / "statement-signing-key.pem").read_text()


# ---- docker-compose.yml ----------------------------------------------------------------------

HPS_SERVICES = {"gateway", *SERVICES, "ledger", "ops"}


def test_docker_compose_is_valid_against_the_compose_specification(tools):
    schema = json.loads((tools / "schemas" / "compose-spec.json").read_text())
    assert "draft-07" in schema["$schema"]
    jsonschema.Draft7Validator.check_schema(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in jsonschema.Draft7Validator(schema).iter_errors(_compose())]
    assert not errors, "\n".join(errors)


def test_each_compose_service_runs_from_the_one_image_after_topics_and_migration():
    services = _compose()["services"]
    for name in HPS_SERVICES | {"topics", "migrate"}:
        service = services[name]
        assert service["image"].startswith(IMAGE) and service["build"]["dockerfile"] == "deploy/Dockerfile"
        assert _runs_our_code(service["command"]), service["command"]
    assert services["migrate"]["command"] == ["hps", "migrate"]
    for name in HPS_SERVICES:
        assert services[name]["depends_on"] == {
            "topics": {"condition": "service_completed_successfully"},
            "migrate": {"condition": "service_completed_successfully"}}, name
        health = " ".join(services[name]["healthcheck"]["test"])
        assert f"http://127.0.0.1:{HEALTH_PORTS[name]}/health" in health, name


def test_every_compose_environment_variable_names_a_setting():
    services = _compose()["services"]
    for name in HPS_SERVICES | {"topics", "migrate"}:
        env = services[name]["environment"]
        assert set(env) <= SETTINGS, f"{name}: no such setting {set(env) - SETTINGS}"
        assert env["HPS_GATEWAY_HOST"] == "0.0.0.0"
    for name in SERVICES:
        assert services[name]["environment"]["HPS_METRICS_PORT"] == HEALTH_PORTS[name]


def test_each_compose_service_starts_with_the_settings_it_is_given(monkeypatch):
    # Compose fills ${NAME:-default} from the shell; here, the defaults.
    services = _compose()["services"]
    for name in HPS_SERVICES | {"topics", "migrate"}:
        env = {key: re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(value))
               for key, value in services[name]["environment"].items()}
        settings = _settings(env, monkeypatch)
        assert settings.bootstrap == "kafka:9092"
        assert settings.database_url == "postgresql+psycopg://hps_app:hps_app@postgres:5432/hps"
        assert settings.internal_host == "0.0.0.0"
        # Only the migration runs as the owner.
        assert (settings.database_owner_url == "postgresql+psycopg://hps:hps@postgres:5432/hps") == (name == "migrate")


def test_only_the_gateway_and_dashboard_publish_host_ports_and_the_rest_scale():
    services = _compose()["services"]
    published = {name: s["ports"] for name, s in services.items() if "ports" in s}
    assert published == {"gateway": ["8000:8000"], "ops": ["8002:8002"]}
    for name in published:
        assert "replicas" not in services[name].get("deploy", {}), f"{name} publishes a fixed host port"
    for name in {*SERVICES, "ledger"}:
        assert services[name]["deploy"]["replicas"] == f"${{HPS_{name.upper()}_REPLICAS:-1}}"


def test_compose_runs_one_broker_or_a_three_broker_cluster_on_request():
    services = _compose()["services"]
    assert "profiles" not in services["kafka"]
    cluster = {name: s for name, s in services.items() if "three-brokers" in s.get("profiles", [])}
    assert set(cluster) == {"kafka-1", "kafka-2", "kafka-3"}
    voters = "1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"
    for name, node in cluster.items():
        env = node["environment"]
        assert node["image"] == services["kafka"]["image"] == "apache/kafka:4.1.1"
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller" and env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == voters
        assert env["KAFKA_NODE_ID"] == int(name[-1])
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"INTERNAL://{name}:9092"
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == 3 and env["KAFKA_MIN_INSYNC_REPLICAS"] == 2
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 3
    assert len({node["environment"]["CLUSTER_ID"] for node in cluster.values()}) == 1
    # The topics are made once every broker of either setup answers.
    waits = services["topics"]["depends_on"]
    assert waits["kafka"] == {"condition": "service_healthy"}
    assert all(waits[name] == {"condition": "service_healthy", "required": False} for name in cluster)
    assert services["postgres"]["image"] == "postgres:16"
