"""A faust-streaming worker that decodes tenant-tagged CloudEvents and re-publishes them.

Run as `python -m tests.integration.faust_echo BOOTSTRAP SOURCE TARGET`."""

import sys

from shared.events import EventCodec
from shared.settings import Settings
from shared.tenants import Registry
from shared.worker import faust_app, raw_topic, run


def main(bootstrap: str, source: str, target: str) -> None:
    app = faust_app("echo-test", Settings(kafka_bootstrap=bootstrap, state_dir=".hps-test"))
    codec = EventCodec(Registry.load())
    outgoing = raw_topic(app, target)

    @app.agent(raw_topic(app, source))
    async def echo(stream):
        async for message in stream.events():
            event = codec.decode(message.message.value, list(message.message.headers))
            key, value, headers = codec.encode(event, event.tenant)
            await outgoing.send(key=key, value=value, headers=headers)

    sys.argv = [sys.argv[0], "worker"]
    run(app)


if __name__ == "__main__":
    main(*sys.argv[1:4])
