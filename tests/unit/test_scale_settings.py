"""How many of each to run, read from the environment as `hps up` and its services read it."""

import pytest
from pydantic import ValidationError

from services.cli.layout import counts, instances, members
from shared.settings import Settings


def test_the_local_kafka_runs_one_broker_or_three_and_every_node_is_a_bootstrap_server(monkeypatch):
    monkeypatch.setenv("HPS_KAFKA_BROKERS", "3")
    monkeypatch.setenv("HPS_KAFKA_PORT", "9192")
    assert Settings().bootstrap == "localhost:9192,localhost:9194,localhost:9196"
    monkeypatch.setenv("HPS_KAFKA_BROKERS", "2")
    with pytest.raises(ValidationError, match="1 broker, or 3"):
        Settings()


def test_scale_names_services_and_counts_and_each_instance_has_a_port_of_its_own(monkeypatch):
    monkeypatch.setenv("HPS_SCALE", "it=2, ledger=3,gateway=2")
    settings = Settings()
    assert counts(settings) == {"gateway": 2, "hr": 1, "it": 2, "procurement": 1, "finance": 1, "ledger": 3, "ops": 1}
    ports = {i.name: i.port for i in instances(settings)}
    assert ports["it-2"] == ports["it"] + 10 and ports["ledger-3"] == ports["ledger"] + 20
    assert len(set(ports.values())) == len(ports)
    gateway = next(i for i in instances(settings) if i.name == "gateway")
    assert gateway.env() == {"HPS_GATEWAY_WORKERS": "2"}  # its processes, on its one port
    assert members(settings)["hps-it"] == 2 and members(settings)["hps-gateway-readmodel"] == 2


@pytest.mark.parametrize("scale, why", [("it", "name=count"), ("teleporter=2", "no service"),
                                        ("it=7", "run 1 to 6"), ("ledger=0", "run 1 to 6")])
def test_a_count_that_cannot_run_is_refused_with_the_reason(monkeypatch, scale, why):
    monkeypatch.setenv("HPS_SCALE", scale)
    with pytest.raises((ValidationError, ValueError), match=why):
        counts(Settings())
