"""The session's Kafka broker: HPS_KAFKA_BOOTSTRAP if set, else testcontainers where a Docker
engine answers, else the local launcher. Every test that needs a broker gets a real one."""

import os
import random
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from deploy.kafka_local import LocalKafka
from shared.kafka import bus

# testcontainers' KafkaContainer drives the Confluent image; 8.1 carries Apache Kafka 4.1, as we pin.
KAFKA_IMAGE = "confluentinc/cp-kafka:8.1.0"


LEVELS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(items):
    """A test's level is its folder: `pytest -m integration` runs tests/integration alone."""
    for item in items:
        level = Path(item.path).relative_to(Path(__file__).parent).parts[0]
        if level in LEVELS:
            item.add_marker(level)


def _first_ephemeral_port() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


# Below the range the kernel hands to outgoing connections: a port found free here stays free until
# the process it is meant for binds it (one picked by bind(0) could meanwhile become a client's).
_LOWEST, _ABOVE = 20_000, _first_ephemeral_port()
_handed_out: set[int] = set()


def port_block(size: int) -> int:
    """The first of `size` consecutive free ports, none handed out before in this process."""
    rng = random.Random()
    while True:
        base = rng.randrange(_LOWEST, _ABOVE - size)
        wanted = range(base, base + size)
        if _handed_out.isdisjoint(wanted) and all(_free(p) for p in wanted):
            _handed_out.update(wanted)
            return base


def free_ports(count: int) -> list[int]:
    """Distinct free ports."""
    return [port_block(1) for _ in range(count)]


def cluster_ports(brokers: int) -> tuple[int, int]:
    """(first broker port, first controller port) of a local cluster: node i listens 2 × (i − 1)
    above each."""
    base = port_block(2 * brokers)
    return base, base + 1


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("localhost", port))
            return True
        except OSError:
            return False


def docker_answers() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory):
    if bootstrap := os.environ.get("HPS_KAFKA_BOOTSTRAP"):
        bus.ensure_topics(bootstrap)
        yield bootstrap
    elif docker_answers():
        from testcontainers.community.kafka import KafkaContainer

        with KafkaContainer(KAFKA_IMAGE).with_kraft() as container:
            bootstrap = container.get_bootstrap_server()
            bus.ensure_topics(bootstrap)
            yield bootstrap
    else:
        with local_kafka(tmp_path_factory.mktemp("kafka")) as broker:
            yield broker.bootstrap


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory):
    """A three-node cluster apart from the session's broker, for the tests that kill nodes: each
    starts again what it killed."""
    with local_kafka(tmp_path_factory.mktemp("cluster"), brokers=3) as cluster:
        yield cluster


@contextmanager
def local_kafka(home: Path, brokers: int = 1) -> Iterator[LocalKafka]:
    """A local broker, or cluster, on free ports, with the platform's topics; stopped on exit."""
    kafka = LocalKafka(home, *(free_ports(2) if brokers == 1 else cluster_ports(brokers)), brokers=brokers)
    kafka.start()
    try:
        bus.ensure_topics(kafka.bootstrap)
        yield kafka
    finally:
        kafka.stop()


@contextmanager
def fresh_database(server_url: str | None = None) -> Iterator[str]:
    """A new database on a real PostgreSQL, dropped afterwards: on the server of `server_url` if
    given, else HPS_TEST_DATABASE_URL's, else the machine's packaged cluster, started (and
    installed) by deploy/postgres-local.sh."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"hps_test_{uuid.uuid4().hex[:8]}"
    if base := server_url or os.environ.get("HPS_TEST_DATABASE_URL"):
        admin = make_url(base)
    else:
        script = Path(__file__).resolve().parents[1] / "deploy" / "postgres-local.sh"
        admin = make_url(subprocess.run(["bash", str(script)], check=True, capture_output=True, text=True)
                         .stdout.strip().splitlines()[-1])
    server = create_engine(admin, isolation_level="AUTOCOMMIT")
    with server.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as c:
            c.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        server.dispose()


def app_url(owner_url: str) -> str:
    """The same database as the application role (deploy/postgres-local.sh makes it), for services
    whose migrations ran as the owner."""
    from sqlalchemy.engine import make_url

    return make_url(owner_url).set(username="hps_app", password="hps_app").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_url():
    with fresh_database() as url:
        yield url
