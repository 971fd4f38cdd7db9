"""The session's Kafka broker: HPS_KAFKA_BOOTSTRAP if set, else testcontainers where a Docker
engine answers, else the local launcher. Every test that needs a broker gets a real one."""

import os
import socket
import subprocess

import pytest

from deploy.kafka_local import LocalKafka
from shared import bus

KAFKA_IMAGE = "apache/kafka:4.1.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


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
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer(KAFKA_IMAGE).with_kraft() as container:
            bootstrap = container.get_bootstrap_server()
            bus.ensure_topics(bootstrap)
            yield bootstrap
    else:
        broker = LocalKafka(tmp_path_factory.mktemp("kafka"), free_port(), free_port())
        broker.start()
        try:
            bus.ensure_topics(broker.bootstrap)
            yield broker.bootstrap
        finally:
            broker.stop()
