"""structlog JSON logging; callers bind tenant, event_id, request_id and service. The standard library's
loggers (uvicorn, aiokafka, kafka-python, alembic, warnings) end in the same JSON lines, with their logger name."""

import logging
import sys

import orjson
import structlog

# What both kinds of line carry: the request's bound context, the level and the time.
_COMMON = [structlog.contextvars.merge_contextvars, structlog.processors.add_log_level,
           structlog.processors.TimeStamper(fmt="iso", utc=True)]


def configure(level: str = "INFO") -> None:
    level = level.upper()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_COMMON, structlog.stdlib.add_logger_name],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer(serializer=lambda obj, **kw: orjson.dumps(obj, **kw).decode())]))
    # force: whatever handler was there before (a plain-text one) would print each line a second time.
    logging.basicConfig(handlers=[handler], level=level, force=True)
    logging.captureWarnings(True)
    # A crash's traceback too: one line, not forty, that log collectors keep whole. Not where a hook is set
    # already: the CLI's (typer's) prints for people.
    if sys.excepthook is sys.__excepthook__:
        sys.excepthook = lambda *exc: logging.getLogger("uncaught").critical("uncaught_exception", exc_info=exc)
    # The Kafka and HTTP clients narrate every connection and request at INFO; their warnings are what matter.
    for chatty in ("kafka", "aiokafka", "httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            *_COMMON,
            structlog.processors.format_exc_info,
            # orjson straight to bytes: the JSON line of a worker's every event costs a third as much.
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.BytesLoggerFactory(file=sys.stderr.buffer),
        cache_logger_on_first_use=True,
    )


def get_logger(service: str, **context):
    """A lazy logger: safe at module level, it binds on first use, after `configure` has run."""
    return structlog.get_logger(service=service, **context)
