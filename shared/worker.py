"""faust-streaming apps for the service workers: one consumer group per service.

faust is treated as at-least-once: anything that must happen once is deduplicated by event id
where it is applied (the ledger, the request tables), never by faust's exactly-once mode.
"""

import faust

from shared.settings import Settings


def faust_app(service: str, settings: Settings, **options) -> faust.App:
    datadir = settings.state_dir / "faust" / service
    datadir.mkdir(parents=True, exist_ok=True)
    return faust.App(
        f"hps-{service}",
        broker=f"kafka://{settings.bootstrap}",
        store="memory://",  # tables are rebuilt from their compacted changelog topics on start
        web_enabled=False,
        topic_replication_factor=1,
        topic_partitions=6,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        datadir=str(datadir),
        **options,
    )


def raw_topic(app: faust.App, name: str) -> faust.TopicT:
    """Our messages are CloudEvents bytes that the codec validates, not faust records."""
    return app.topic(name, key_serializer="raw", value_serializer="raw")


def run(app: faust.App, loglevel: str = "info") -> None:
    faust.Worker(app, loglevel=loglevel).execute_from_commandline()
