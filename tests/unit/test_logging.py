"""Every line a process writes on stderr is one JSON object: structlog's own, and the standard library's
(uvicorn, aiokafka, warnings), with the request's id and tenant when bound."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROCESS = textwrap.dedent("""
    import logging, warnings
    import structlog
    from shared.logging import configure, get_logger

    configure("INFO")
    logging.getLogger("uvicorn.error").info("Application startup complete.")
    logging.getLogger("aiokafka.consumer.group_coordinator").warning(
        "Marking the coordinator dead (node %s)for group %s.", 2, "hps-finance")
    logging.getLogger("aiokafka").info("connected")  # below the Kafka clients' WARNING: not written
    structlog.contextvars.bind_contextvars(request_id="abc123", tenant="council")
    get_logger("gateway").info("submitted", type="incident")
    logging.getLogger("alembic.runtime.migration").info("Running upgrade")
    try:
        1 / 0
    except ZeroDivisionError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    warnings.warn("soon gone", UserWarning)
    raise RuntimeError("the process dies")
""")


def test_structlog_and_stdlib_loggers_write_one_json_object_a_line():
    done = subprocess.run([sys.executable, "-c", PROCESS], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]  # each line parses, or the test fails here
    assert all({"level", "timestamp", "event"} <= line.keys() for line in lines), lines
    startup, coordinator, submitted, migration, failed, warned, crashed = lines
    assert startup | {"timestamp": None} == {"event": "Application startup complete.", "level": "info",
                                             "logger": "uvicorn.error", "timestamp": None}
    assert coordinator["event"] == "Marking the coordinator dead (node 2)for group hps-finance."
    assert coordinator["level"] == "warning" and coordinator["logger"] == "aiokafka.consumer.group_coordinator"
    assert submitted.items() >= {"event": "submitted", "service": "gateway", "request_id": "abc123",
                                 "tenant": "council", "type": "incident"}.items()
    # A library's line during a request carries the request's context too.
    assert migration.items() >= {"logger": "alembic.runtime.migration", "request_id": "abc123"}.items()
    assert failed["level"] == "error" and "ZeroDivisionError" in failed["exception"]
    assert warned["logger"] == "py.warnings" and "soon gone" in warned["event"]
    assert crashed["level"] == "critical" and "RuntimeError: the process dies" in crashed["exception"]
