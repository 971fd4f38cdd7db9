"""The gateway's read model on a real database: each event once, and a command's outcome whichever
of the gateway and the read model records it first."""

import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import TopicPartition
from sqlalchemy import event, insert, select, text

from services.gateway import tables
from services.gateway.commands import Commands
from services.gateway.store import Projection, Requests
from shared.api.auth import Principal
from shared.contracts import Change, RequestSnapshot, TransitionRefused
from shared.db import engine as make_engine
from shared.kafka.positions import Positions, Superseded

FINANCE = Principal(role="finance", name="Shared unit finance")
NOW = datetime(2026, 10, 5, 9, 30, tzinfo=UTC)


def snapshot(request_id: uuid.UUID, version: int, status: str, command_id: uuid.UUID) -> RequestSnapshot:
    return RequestSnapshot(
        request_id=request_id, service="it", request_type="laptop-provision", priority="P3", description="Laptop",
        cost_centre="ASC-100", requested={"quantity": 1}, status=status, submitted_by="Council service desk",
        submitted_at=NOW, updated_at=NOW, sla_due_at=NOW, version=version,
        change=Change(action="submit" if version == 1 else "accept", actor="someone", command_id=command_id))


@pytest.fixture
def db(postgres_url):
    engine = make_engine(postgres_url)
    with engine.begin() as c:
        c.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    tables.create(engine)
    yield engine
    engine.dispose()


def reading(db) -> Requests:
    return Requests(db, Positions(db, "test-readmodel", from_start=True))


def applied(requests: Requests, event_id: str, request: RequestSnapshot, offset: int | None = None) -> None:
    """One event, written as a batch of its own; at `offset` of it.events partition 0 if given."""
    projection = Projection()
    projection.applied(event_id, "council", request)
    projection.covered = {} if offset is None else {("it.events", 0): (offset, offset + 1)}
    requests.write(projection)


def position(requests: Requests, partition: int) -> int | None:
    return requests.positions.resume_at([TopicPartition("it.events", partition)]).get(
        TopicPartition("it.events", partition))


def test_a_redelivered_or_older_snapshot_changes_nothing_and_is_told_once(db):
    requests, request_id = reading(db), uuid.uuid4()
    submitted, accepted = uuid.uuid4(), uuid.uuid4()
    applied(requests, "e1", snapshot(request_id, 1, "submitted", submitted), 0)
    applied(requests, "e2", snapshot(request_id, 2, "accepted", accepted), 1)
    # The first event again (from another partition's instance of the story): not applied over the
    # newer version, not told twice.
    applied(requests, "e1", snapshot(request_id, 1, "submitted", submitted))
    assert [(h["action"], h["status"]) for h in requests.history(FINANCE, str(request_id))] == \
        [("submit", "submitted"), ("accept", "accepted")]
    assert requests.get(FINANCE, str(request_id)).request.status == "accepted"
    assert position(requests, 0) == 2
    # A batch from before that position is another instance's late write: nothing of it is kept.
    with pytest.raises(Superseded):
        applied(requests, "e3", snapshot(request_id, 3, "in_progress", uuid.uuid4()), 1)
    assert requests.get(FINANCE, str(request_id)).request.status == "accepted"


def test_a_batch_is_written_as_its_events_happened_in_order(db):
    """Two versions, a refusal after them and the same events again, in one batch: the newest version
    shows with the refusal that came after it, each event is history once, each command decided."""
    requests, request_id = reading(db), uuid.uuid4()
    submitted, accepted, refused = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    projection = Projection()
    for offset, (event_id, request) in enumerate([("e1", snapshot(request_id, 1, "submitted", submitted)),
                                                  ("e2", snapshot(request_id, 2, "accepted", accepted)),
                                                  ("e1", snapshot(request_id, 1, "submitted", submitted))]):
        projection.applied(event_id, "council", request)
    projection.covered = {("it.events", 3): (0, 4)}
    projection.refused("e3", "council", "it", TransitionRefused(
        request_id=request_id, action="complete", status="accepted", reason="start it first", command_id=refused))
    requests.write(projection)

    view = requests.get(FINANCE, str(request_id))
    assert (view.request.version, view.request.status, view.refusal) == (2, "accepted", "start it first")
    assert [(h["outcome"], h["action"]) for h in requests.history(FINANCE, str(request_id))] == \
        [("applied", "submit"), ("applied", "accept"), ("refused", "complete")]
    commands = Commands(db, requests)
    assert [commands.outcome(FINANCE, str(c)).state for c in (submitted, accepted, refused)] == \
        ["applied", "applied", "refused"]
    assert position(requests, 3) == 4


def test_a_refusal_from_a_worker_that_names_no_command_is_history_only(db):
    requests, request_id = reading(db), uuid.uuid4()
    applied(requests, "e1", snapshot(request_id, 1, "submitted", uuid.uuid4()), 0)
    refusal = TransitionRefused(request_id=request_id, action="start", status="submitted", reason="not yet")
    projection = Projection()
    projection.refused("e2", "council", "it", refusal)
    requests.write(projection)
    [_, refused] = requests.history(FINANCE, str(request_id))
    assert (refused["outcome"], refused["command_id"], refused["reason"]) == ("refused", None, "not yet")
    assert requests.get(FINANCE, str(request_id)).refusal == "not yet"
    with db.connect() as c:
        assert c.execute(select(tables.commands.c.action)).scalars().all() == ["submit"]  # no outcome for a refusal


def test_an_outcome_recorded_while_the_gateway_records_the_command_is_kept(db):
    """The read model finds no row, the gateway inserts it as pending, then the read model's insert
    meets it: the decision is written over the pending row, not lost."""
    requests, commands = reading(db), Commands(db, reading(db))
    request_id, command_id = uuid.uuid4(), uuid.uuid4()

    def gateway_records_it_first(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("INSERT INTO gateway_commands") and not raced:
            raced.append(True)
            with db.begin() as other:
                other.execute(insert(tables.commands).values(
                    command_id=str(command_id), request_id=str(request_id), tenant="council", service="it",
                    action="submit", actor="Council service desk", requested_at=NOW, state="pending"))

    raced: list[bool] = []
    event.listen(db, "before_cursor_execute", gateway_records_it_first)
    try:
        applied(requests, "e1", snapshot(request_id, 1, "submitted", command_id), 0)
    finally:
        event.remove(db, "before_cursor_execute", gateway_records_it_first)
    assert raced
    outcome = commands.outcome(FINANCE, str(command_id))
    assert outcome.state == "applied" and outcome.resource["result"]["status"] == "submitted"
    assert outcome.resource["requested_at"] is not None  # what the gateway knew is kept too


async def test_a_command_decided_before_the_gateway_records_it_keeps_the_decision(db):
    """The read model was quicker than the gateway's own record of the command: the gateway adds what
    only it knows (when, what type) and the decision stands; recording it again changes nothing."""
    requests, request_id, command_id = reading(db), uuid.uuid4(), uuid.uuid4()
    commands = Commands(db, requests)
    applied(requests, "e1", snapshot(request_id, 1, "submitted", command_id), 0)
    told = await commands.pending(str(command_id), str(request_id), "council", "it", "submit", "Council service desk",
                                  NOW, request_type="laptop-provision")
    assert told.state == "pending"  # what the caller is told at once; its Location says more
    later = datetime(2026, 10, 6, tzinfo=UTC)
    await commands.pending(str(command_id), str(request_id), "council", "it", "submit", "someone else", later)
    outcome = commands.outcome(FINANCE, str(command_id))
    assert (outcome.state, outcome.resource["requested_at"]) == ("applied", NOW.isoformat())
    assert commands.submitted(FINANCE, str(request_id)).request_type == "laptop-provision"
