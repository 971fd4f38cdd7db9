"""A worker SIGKILLed in the middle of a batch, after publishing its outputs and before storing the
batch's state and committing its offsets: the batch comes again, and every request's changes are
applied once and in order."""

import json
from collections import defaultdict

import pytest

from shared.topics import events_topic
from tests.e2e.kafka_reading import events_of, read_all

STEPS = ("accept", "start", "complete")
REQUESTS = 30


@pytest.fixture
def it_worker_dies_mid_batch(platform):
    """IT's worker, stopped while commands queue up, then started to SIGKILL itself once it has
    published a batch's outputs; put back as it was afterwards."""
    platform.stop("it")
    try:
        yield
    finally:
        platform.extra_env.pop("HPS_FAULTS", None)
        if "it" in platform.processes:
            platform.stop("it", kill=True)
        platform.start("it")


async def test_a_worker_killed_mid_batch_applies_each_change_once_and_in_order(platform, as_, it_worker_dies_mid_batch):
    council, staff = as_("dev-council"), as_("dev-staff-it")
    # With the worker down, every command queues on it.requests: the worker's first fetch is a big batch.
    ids = []
    for n in range(REQUESTS):
        submitted = council.submit("it", "account-setup", quantity=1 + n % 3)
        assert submitted.status_code == 202, submitted.text
        ids.append(submitted.json()["request_id"])
    for step in STEPS:
        for request_id in ids:
            fields = {"quantity": 1} if step == "complete" else {}
            assert staff.move(request_id, step, **fields).status_code == 202

    platform.extra_env["HPS_FAULTS"] = "worker-batch-published:kill"
    platform.start("it")
    assert platform.processes["it"].wait(60) == -9  # it published a batch, then died before storing it
    platform.processes.pop("it")
    del platform.extra_env["HPS_FAULTS"]
    platform.start("it")

    for request_id in ids:
        assert council.await_status(request_id, "completed", timeout_s=60)["version"] == 4
        history = council.http.get(f"/v1/requests/{request_id}/history").json()
        assert [(h["action"], h["version"]) for h in history] == [("submit", 1), ("accept", 2), ("start", 3),
                                                                  ("complete", 4)]

    # On the topic: the batch published before the kill came again, with the same ids and content;
    # in each request's partition its versions never go back.
    versions, bodies, republished = defaultdict(list), {}, 0
    for event in events_of(await read_all(platform.bootstrap, events_topic("it"))):
        if event.subject in ids and event.type.endswith("request.changed"):
            versions[event.subject].append(event.data["version"])
            body = json.dumps(event.data, sort_keys=True)
            republished += event.id in bodies
            assert bodies.setdefault(event.id, body) == body
    assert republished > 0
    for request_id in ids:
        runs = _runs(versions[request_id])  # one run per time the request's commands were handled
        assert runs[0][0] == 1 and max(map(max, runs)) == 4
        assert all(run == list(range(run[0], run[0] + len(run))) for run in runs), versions[request_id]


def _runs(seen: list[int]) -> list[list[int]]:
    """The versions split where they go back: where a redelivered batch began again."""
    runs = [[seen[0]]]
    for version in seen[1:]:
        runs.append([version]) if version <= runs[-1][-1] else runs[-1].append(version)
    return runs
