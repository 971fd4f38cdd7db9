"""A faust-streaming worker that decodes tenant-tagged CloudEvents and re-publishes them.

Run as `python -m tests.integration.faust_echo BOOTSTRAP SOURCE TARGET STATE_DIR`."""

import sys

import faust

from shared.events import EventCodec
from shared.tenants import Registry


def main(bootstrap: str, source: str, target: str, state_dir: str) -> None:
    app = faust.App("hps-echo-test", broker=f"kafka://{bootstrap}", store="memory://", web_enabled=False,
                    topic_replication_factor=1, producer_acks=-1, consumer_auto_offset_reset="earliest",
                    datadir=state_dir)
    codec = EventCodec(Registry.load())
    outgoing = app.topic(target, key_serializer="raw", value_serializer="raw")

    @app.agent(app.topic(source, key_serializer="raw", value_serializer="raw"))
    async def echo(stream):
        async for message in stream.events():
            event = codec.decode(message.message.value, list(message.message.headers))
            key, value, headers = codec.encode(event, event.tenant)
            await outgoing.send(key=key, value=value, headers=headers)

    sys.argv = [sys.argv[0], "worker", "--loglevel", "warning"]
    faust.Worker(app, loglevel="warning").execute_from_commandline()


if __name__ == "__main__":
    main(*sys.argv[1:5])
