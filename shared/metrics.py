"""Prometheus metrics every process exposes, labelled by service and tenant.

One process is one service: `serving(name)` names it once, at start-up, for every label.
"""

import math
import time

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest  # noqa: F401

_service = "unnamed"

EVENTS_CONSUMED = Counter("hps_events_consumed_total", "Events taken from Kafka", ["service", "topic", "tenant", "type"])
EVENTS_PRODUCED = Counter("hps_events_produced_total", "Events acknowledged by Kafka",
                          ["service", "topic", "tenant", "type"])
PROCESSING = Histogram("hps_event_processing_seconds", "Time from taking an event to having handled it",
                       ["service", "type"], buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
ERRORS = Counter("hps_errors_total", "Failures: handler retries, refused events, unexpected API errors",
                 ["service", "kind"])
DEAD_LETTERS = Counter("hps_dead_letters_total", "Messages sent to ops.dead-letters", ["service", "topic", "tenant"])
HTTP_REQUESTS = Histogram("hps_http_request_seconds", "HTTP requests served", ["service", "method", "route", "status"],
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))

# Set by the ops service each time it samples consumer lag (services/ops/app.py).
CONSUMER_LAG = Gauge("hps_consumer_lag_messages", "Messages a consumer group has yet to process",
                     ["group", "topic", "partition"])
CONSUMER_LAG_AGE = Gauge("hps_consumer_lag_seconds", "How long the oldest message a consumer group has yet to "
                         "process has waited: 0 when there is none, NaN when it could not be read",
                         ["group", "topic", "partition"])
_lag_labels: set[tuple[str, str, str]] = set()


def serving(service: str) -> None:
    """Name this process's service, once, for every label."""
    global _service
    _service = service


def service() -> str:
    return _service


def consumed(topic: str, tenant: str, event_type: str) -> None:
    EVENTS_CONSUMED.labels(_service, topic, tenant, event_type).inc()


def produced(topic: str, tenant: str, event_type: str, count: int = 1) -> None:
    EVENTS_PRODUCED.labels(_service, topic, tenant, event_type).inc(count)


def dead_lettered(topic: str, tenant: str) -> None:
    DEAD_LETTERS.labels(_service, topic, tenant).inc()


def error(kind: str) -> None:
    ERRORS.labels(_service, kind).inc()


def consumer_lag(sample: dict[tuple[str, str, int], tuple[int, float | None]]) -> None:
    """The latest lag sample: (messages, seconds) by (group, topic, partition). A partition missing from it
    (its group was deleted, its topic shrank) leaves /metrics, rather than showing its last lag for ever."""
    global _lag_labels
    labels = {(group, topic, str(partition)): figures for (group, topic, partition), figures in sample.items()}
    for gone in _lag_labels - labels.keys():
        CONSUMER_LAG.remove(*gone)
        CONSUMER_LAG_AGE.remove(*gone)
    for label, (messages, age_s) in labels.items():
        CONSUMER_LAG.labels(*label).set(messages)
        CONSUMER_LAG_AGE.labels(*label).set(0 if not messages else math.nan if age_s is None else age_s)
    _lag_labels = set(labels)


class timed:
    """with timed(event_type): … records the processing time."""

    def __init__(self, event_type: str):
        self.event_type = event_type

    def __enter__(self):
        self.started = time.perf_counter()

    def __exit__(self, *exc):
        PROCESSING.labels(_service, self.event_type).observe(time.perf_counter() - self.started)
