"""Scale-out under faults, on a three-broker cluster and PostgreSQL, while partners' requests flow
and charges post:

- the broker leading the busiest partitions is SIGKILLed: every request the gateway accepted is
  applied once and charged once, each tenant's month adds up to the penny, and requests begun after
  the kill are carried through on the two brokers left; started again on its data, the node is back
  in sync on every partition;
- a second instance of a worker and of the ledger join their groups under load, then one of each
  is SIGKILLed: the groups rebalance, and nothing is lost, doubled or applied out of order.

HPS_SCALE_SECONDS sets how long requests flow in each test (default 18)."""

import os
import random
import time
from collections import Counter

import pytest

from deploy.kafka_local import LocalKafka
from shared.topics import BY_NAME, CHARGES, SERVICES, requests_topic
from tests.conftest import free_ports, fresh_database
from tests.e2e.conftest import FAST_IT_SLA
from tests.e2e.journeys import JOURNEY_S, MENU, Run, desks, finish, verify
from tests.e2e.platform import Platform

SECONDS = float(os.environ.get("HPS_SCALE_SECONDS", "18"))
DESKS = 3
BUSY = (*(requests_topic(s) for s in SERVICES), CHARGES)  # the topics every journey writes to
LIMIT_S = int(SECONDS + JOURNEY_S + 120)


@pytest.fixture(scope="module")
def platform(kafka_cluster, tmp_path_factory):
    """One instance of every service, on the cluster and a database of this module's own."""
    state = tmp_path_factory.mktemp("scaled")
    (state / "catalogues").mkdir()
    (state / "catalogues" / "it.yaml").write_text(FAST_IT_SLA)
    with fresh_database() as url:
        running = Platform(kafka_cluster.bootstrap, state, *free_ports(3),
                           {"HPS_CATALOGUE_DIR": str(state / "catalogues"), "HPS_DATABASE_URL": url})
        running.start_all()
        try:
            yield running
        finally:
            running.stop_all()


def busiest_leader(cluster: LocalKafka) -> int:
    """The broker leading the most partitions that requests and charges go through."""
    led = Counter(cluster.leader(topic, p) for topic in BUSY for p in range(BY_NAME[topic].partitions))
    return led.most_common(1)[0][0]


@pytest.mark.timeout(LIMIT_S)
def test_the_leader_of_the_busiest_partitions_dies_and_two_brokers_carry_on(kafka_cluster, platform):
    cluster = kafka_cluster
    run, rng = Run(period="2034-06"), random.Random()
    started = desks(platform, run, rng, DESKS, SECONDS)
    time.sleep(SECONDS / 3)
    victim = busiest_leader(cluster)
    cluster.kill_node(victim)
    killed_at = time.monotonic()
    try:
        finish(started, run)
        # And requests begun once those are through, the broker still down, go all the way on the two left.
        finish(desks(platform, run, rng, DESKS, 1), run)
        ours, expected, _ = verify(platform, run)
        assert victim not in cluster.live_node_ids()  # all of it was done by the other two
        after = [j for j in ours.values() if j.began > killed_at]
        assert len(after) >= DESKS, "requests begun after the broker died"
        print(f"broker {victim} killed {SECONDS / 3:.0f}s in; {len(ours)} requests applied and charged once, "
              f"{len(after)} of them begun after; totals {({t: str(a) for t, a in expected.items()})}")
    finally:
        cluster.start_node(victim)
    # The node comes back on its own data and catches up: every partition has its three copies in sync.
    deadline = time.monotonic() + 60
    while any(isr != {1, 2, 3} for topic in BUSY for isr in cluster.in_sync(topic)):
        assert time.monotonic() < deadline, {topic: cluster.in_sync(topic) for topic in BUSY}
        time.sleep(0.5)


@pytest.mark.timeout(LIMIT_S)
def test_instances_join_and_die_under_load_and_nothing_is_lost_doubled_or_reordered(platform):
    run, rng = Run(period="2034-07"), random.Random()
    started = desks(platform, run, rng, DESKS, SECONDS)
    time.sleep(SECONDS / 4)
    joined = [platform.add("it"), platform.add("finance.ledger")]
    for name in joined:
        platform.await_health(platform.health_url(name), name)
    time.sleep(SECONDS / 4)
    # The first worker and the new ledger die with work in hand; their partitions go to the others.
    platform.stop("it", kill=True)
    platform.stop(joined[1], kill=True)
    killed_at = time.monotonic()
    finish(started, run)
    # IT requests begun once those are through go to the instance that joined.
    run.menu = tuple(priced for priced in MENU if priced.service == "it")
    finish(desks(platform, run, rng, DESKS, 1), run)
    ours, expected, _ = verify(platform, run)
    after = [j for j in ours.values() if j.began > killed_at and j.priced.service == "it"]
    assert len(after) >= DESKS, "IT requests begun after the first worker died"
    print(f"{joined} joined, it and {joined[1]} killed; {len(ours)} requests applied in order and charged once, "
          f"{len(after)} IT requests begun after; totals {({t: str(a) for t, a in expected.items()})}")
