"""`bus.publish_all` writes record batches of its own: every event arrives once, in order per key,
on the partition `send` would have chosen, and a batch that fills is sent while the rest follow."""

import uuid

from shared.kafka import bus
from tests.integration.test_event_through_clients import a_shared_cost, codec, consume, new_topic


async def test_events_arrive_once_in_order_per_key_where_send_would_put_them(kafka_bootstrap):
    first, second = new_topic(kafka_bootstrap, partitions=6), new_topic(kafka_bootstrap, partitions=3)
    keys = [str(uuid.uuid4()) for _ in range(40)]
    # 3,000 events: far more than one 16 KB batch per partition holds.
    events = [(first if i % 4 else second, keys[i % len(keys)], a_shared_cost()) for i in range(3000)]

    producer = bus.producer(kafka_bootstrap)
    await producer.start()
    try:
        await bus.publish_all(producer, codec, iter(events))
        # Where one `send` puts each key: the partition a request's other events already use.
        where_send_puts = {}
        for topic, key in {(topic, key) for topic, key, _ in events}:
            sent = await producer.send_and_wait(topic, b"probe", key=key.encode())
            where_send_puts[topic, key] = sent.partition
    finally:
        await producer.stop()

    expected = {topic: [(key, event.id) for t, key, event in events if t == topic] for topic in (first, second)}
    for topic, wanted in expected.items():
        on_this_topic = {key for key, _ in wanted}
        received = [m for m in await consume(kafka_bootstrap, topic, len(wanted) + len(on_this_topic))
                    if m.value != b"probe"]
        assert sorted(codec.decode(m.value, m.headers).id for m in received) == sorted(i for _, i in wanted)
        for key in on_this_topic:
            on_topic = [m for m in received if m.key == key.encode()]
            assert {m.partition for m in on_topic} == {where_send_puts[topic, key]}
            assert [codec.decode(m.value, m.headers).id for m in on_topic] == [i for k, i in wanted if k == key]
