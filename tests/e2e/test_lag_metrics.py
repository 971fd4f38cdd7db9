"""The ops service's /metrics has each consumer group's lag by partition, as it last sampled it."""

import asyncio
import time

from prometheus_client.parser import text_string_to_metric_families

from shared.topics import BY_NAME, requests_topic
from tests.e2e.kafka_reading import await_group_past


def hr_lag(platform) -> dict[str, dict[str, float]]:
    """The HR worker's lag gauges on hr.requests: by metric name, by partition."""
    found = {"hps_consumer_lag_messages": {}, "hps_consumer_lag_seconds": {}}
    for family in text_string_to_metric_families(platform.metrics("ops")):
        for s in family.samples:
            if s.name in found and s.labels["group"] == "hps-hr" and s.labels["topic"] == requests_topic("hr"):
                found[s.name][s.labels["partition"]] = s.value
    return found


def await_hr_lag(platform, holds, timeout_s: float = 60) -> dict[str, dict[str, float]]:
    deadline = time.monotonic() + timeout_s
    while not holds(lag := hr_lag(platform)):
        assert time.monotonic() < deadline, f"hps-hr lag not as expected after {timeout_s}s: {lag}"
        time.sleep(0.5)
    return lag


def test_the_lag_gauges_rise_while_a_worker_is_stopped_and_fall_after_its_restart(platform, as_):
    council = as_("dev-council")
    # The HR worker takes requests until its group has a committed position on every partition (requests
    # are spread by their id): lag is measured from there.
    deadline = time.monotonic() + 60
    while len(hr_lag(platform)["hps_consumer_lag_messages"]) < BY_NAME[requests_topic("hr")].partitions:
        assert time.monotonic() < deadline, f"hps-hr has not committed on every partition: {hr_lag(platform)}"
        assert council.submit("hr", "dbs-check", quantity=1).status_code == 202
        time.sleep(0.5)
    asyncio.run(await_group_past(platform.bootstrap, "hps-hr", requests_topic("hr")))
    platform.stop("hr")
    try:
        for _ in range(3):
            assert council.submit("hr", "dbs-check", quantity=1).status_code == 202
        behind = await_hr_lag(platform, lambda lag: sum(lag["hps_consumer_lag_messages"].values()) >= 3
                              and max(lag["hps_consumer_lag_seconds"].values()) > 0)
        assert behind["hps_consumer_lag_messages"].keys() == behind["hps_consumer_lag_seconds"].keys()
    finally:
        platform.start("hr")
    await_hr_lag(platform, lambda lag: lag["hps_consumer_lag_messages"]
                 and set(lag["hps_consumer_lag_messages"].values()) == {0}
                 and set(lag["hps_consumer_lag_seconds"].values()) == {0}, timeout_s=120)
