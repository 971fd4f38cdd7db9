"""Starting the gateway: production refuses development infrastructure and the development tokens,
and a tokens file of one's own replaces the development tokens."""

import asyncio
import os
import shutil
import subprocess
import sys
import time
import uuid
from importlib import resources

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from pydantic import ValidationError

from shared.settings import Settings
from tests.e2e.kafka_reading import submitted_events
from tests.e2e.platform import Client, lone_gateway

POSTGRES = "postgresql+psycopg://hps:secret@db.example/hps"
# (what production lacks, the environment it starts with, the setting the refusal names)
MISSING = [
    ("no broker", {}, "HPS_KAFKA_BOOTSTRAP"),
    ("no database", {"HPS_KAFKA_BOOTSTRAP": "kafka.example:9092"}, "HPS_DATABASE_URL"),
    ("SQLite", {"HPS_KAFKA_BOOTSTRAP": "kafka.example:9092", "HPS_DATABASE_URL": "sqlite:///ledger.db"},
     "HPS_DATABASE_URL"),
    ("no tokens", {"HPS_KAFKA_BOOTSTRAP": "kafka.example:9092", "HPS_DATABASE_URL": POSTGRES}, "HPS_TOKENS_FILE"),
]


@pytest.mark.parametrize("case, env, setting", MISSING, ids=[m[0] for m in MISSING])
def test_production_refuses_to_start_without_real_infrastructure(case, env, setting, tmp_path):
    # Nothing inherited: only what this case sets, in a folder without a .env file.
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HPS_")}
    started = time.monotonic()
    gateway = subprocess.run([sys.executable, "-m", "services.gateway"], cwd=tmp_path, capture_output=True, text=True,
                             env={**clean, "HPS_ENVIRONMENT": "production", "HPS_STATE_DIR": str(tmp_path), **env},
                             timeout=60)
    assert gateway.returncode != 0, gateway.stdout + gateway.stderr
    assert setting in gateway.stderr, gateway.stderr
    assert time.monotonic() - started < 30, "the refusal should come at once, before any connection is tried"


def test_production_refuses_to_start_with_the_development_tokens_under_any_path(tmp_path):
    copied = tmp_path / "secrets" / "partner-tokens.yaml"
    copied.parent.mkdir()
    shutil.copy(resources.files("shared").joinpath("tokens.yaml"), copied)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HPS_")}
    key = tmp_path / "statements.pem"
    key.write_bytes(Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    for service in ("services.gateway", "services.finance.ledger", "services.ops"):
        started = subprocess.run([sys.executable, "-m", service], cwd=tmp_path, capture_output=True, text=True,
                                 env={**clean, "HPS_ENVIRONMENT": "production", "HPS_STATE_DIR": str(tmp_path),
                                      "HPS_KAFKA_BOOTSTRAP": "kafka.example:9092", "HPS_DATABASE_URL": POSTGRES,
                                      "HPS_TOKENS_FILE": str(copied), "HPS_STATEMENT_SIGNING_KEY": str(key)},
                                 timeout=60)
        assert started.returncode != 0, started.stdout + started.stderr
        assert "development tokens" in started.stderr and "dev-council" in started.stderr, started.stderr


@pytest.mark.parametrize("case, env, setting", MISSING, ids=[m[0] for m in MISSING])
def test_production_settings_name_what_is_missing(case, env, setting):
    # Unset explicitly: the test's own environment may name a broker.
    fields = {"kafka_bootstrap": None, "database_url": None, "tokens_file": None,
              **{k.removeprefix("HPS_").lower(): v for k, v in env.items()}}
    with pytest.raises(ValidationError, match=setting):
        Settings(_env_file=None, environment="production", **fields)


def test_production_settings_accept_real_infrastructure(tmp_path):
    settings = Settings(_env_file=None, environment="production", kafka_bootstrap="kafka.example:9092",
                        database_url=POSTGRES, tokens_file=tmp_path / "tokens.yaml")
    assert (settings.bootstrap, settings.database("ledger")) == ("kafka.example:9092", POSTGRES)


@pytest.fixture(scope="module")
def own_tokens(tmp_path_factory):
    """A tokens file of our own: a hospital requester and a finance officer, under fresh tokens."""
    path = tmp_path_factory.mktemp("tokens") / "tokens.yaml"
    tokens = {f"hospital-{uuid.uuid4().hex}": {"role": "partner", "tenant": "hospital", "name": "Ward 7 manager"},
              f"finance-{uuid.uuid4().hex}": {"role": "finance", "name": "Finance officer"}}
    path.write_text(yaml.safe_dump({"tokens": tokens}))
    return path, *tokens


@pytest.fixture(scope="module")
def gateway(kafka_bootstrap, tmp_path_factory, own_tokens):
    """A gateway alone on the session's broker, with its own SQLite database and the tokens file."""
    with lone_gateway(kafka_bootstrap, tmp_path_factory.mktemp("gateway"), {"HPS_TOKENS_FILE": str(own_tokens[0])}) \
            as running:
        yield running


def test_a_tokens_file_of_ones_own_replaces_the_development_tokens(gateway, own_tokens):
    _, hospital_token, finance_token = own_tokens
    hospital, finance = Client(gateway.url, hospital_token), Client(gateway.url, finance_token)
    # The ward manager submits a request: a partner of the hospital, by the file.
    accepted = hospital.submit("it", "laptop-provision", quantity=1)
    assert accepted.status_code == 202, accepted.text
    request_id = accepted.json()["request_id"]
    [submitted] = asyncio.run(submitted_events(gateway.bootstrap, request_id))
    assert (submitted.tenant, submitted.data["submitted_by"]) == ("hospital", "Ward 7 manager")
    # ... for the hospital only.
    other = hospital.submit("it", "laptop-provision", quantity=1, tenant="council")
    assert (other.status_code, other.json()["error"]["code"]) == (403, "forbidden"), other.text
    # The finance officer is finance, not a partner: no requests of its own.
    refused = finance.submit("it", "laptop-provision", quantity=1)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden"), refused.text
    assert finance.http.get("/v1/catalogue").status_code == 200
    # The development tokens are gone.
    for attempt in (Client(gateway.url, "dev-council").submit("it", "laptop-provision", quantity=1),
                    Client(gateway.url, "dev-council").http.get("/v1/catalogue")):
        assert attempt.status_code == 401, attempt.text
        assert attempt.json()["error"]["code"] == "unauthorized"


def test_production_refuses_to_start_the_ledger_without_its_signing_key(tmp_path, own_tokens):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HPS_")}
    ledger = subprocess.run([sys.executable, "-m", "services.finance.ledger"], cwd=tmp_path, capture_output=True,
                            text=True, env={**clean, "HPS_ENVIRONMENT": "production", "HPS_STATE_DIR": str(tmp_path),
                                            "HPS_KAFKA_BOOTSTRAP": "kafka.example:9092", "HPS_DATABASE_URL": POSTGRES,
                                            "HPS_TOKENS_FILE": str(own_tokens[0])}, timeout=60)
    assert ledger.returncode != 0 and "HPS_STATEMENT_SIGNING_KEY" in ledger.stderr, ledger.stderr
