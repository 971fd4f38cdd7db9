"""Consumer lag as Prometheus gauges: each sample replaces the last, partitions that are gone included."""

import math

from prometheus_client import REGISTRY

from shared import metrics


def gauge(name: str, group: str, partition: int) -> float | None:
    return REGISTRY.get_sample_value(name, {"group": group, "topic": "it.requests", "partition": str(partition)})


def test_each_sample_sets_the_gauges_and_drops_the_partitions_it_no_longer_has():
    # The IT worker is 5 behind on partition 0, the oldest of them 12.5 s old; caught up on partition 1.
    metrics.consumer_lag({("hps-test-it", "it.requests", 0): (5, 12.5), ("hps-test-it", "it.requests", 1): (0, None),
                          ("hps-test-gone", "it.requests", 0): (2, None)})
    assert gauge("hps_consumer_lag_messages", "hps-test-it", 0) == 5
    assert gauge("hps_consumer_lag_seconds", "hps-test-it", 0) == 12.5
    assert gauge("hps_consumer_lag_seconds", "hps-test-it", 1) == 0
    # Behind, but the oldest message could not be read: unknown, not 0.
    assert math.isnan(gauge("hps_consumer_lag_seconds", "hps-test-gone", 0))

    # The group is deleted; the IT worker catches up.
    metrics.consumer_lag({("hps-test-it", "it.requests", 0): (0, None), ("hps-test-it", "it.requests", 1): (0, None)})
    assert gauge("hps_consumer_lag_messages", "hps-test-it", 0) == 0
    assert gauge("hps_consumer_lag_seconds", "hps-test-it", 0) == 0
    assert gauge("hps_consumer_lag_messages", "hps-test-gone", 0) is None
    assert gauge("hps_consumer_lag_seconds", "hps-test-gone", 0) is None
    metrics.consumer_lag({})
