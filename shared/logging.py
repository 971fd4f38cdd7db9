"""structlog JSON logging; callers bind tenant, event_id, request_id and service."""

import logging
import sys

import orjson
import structlog


def configure(level: str = "INFO") -> None:
    logging.basicConfig(format="%(message)s", stream=sys.stderr, level=level.upper())
    # The Kafka and HTTP clients narrate every connection and request at INFO; their warnings are what matter.
    for chatty in ("kafka", "aiokafka", "httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            # orjson straight to bytes: the JSON line of a worker's every event costs a third as much.
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.BytesLoggerFactory(file=sys.stderr.buffer),
        cache_logger_on_first_use=True,
    )


def get_logger(service: str, **context):
    """A lazy logger: safe at module level, it binds on first use, after `configure` has run."""
    return structlog.get_logger(service=service, **context)
