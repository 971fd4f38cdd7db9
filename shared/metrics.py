"""Prometheus metrics every process exposes, labelled by service and tenant.

One process is one service: `serving(name)` names it once, at start-up, for every label.
"""

import time

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest  # noqa: F401

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


class timed:
    """with timed(event_type): … records the processing time."""

    def __init__(self, event_type: str):
        self.event_type = event_type

    def __enter__(self):
        self.started = time.perf_counter()

    def __exit__(self, *exc):
        PROCESSING.labels(_service, self.event_type).observe(time.perf_counter() - self.started)
