"""Operations staff watch the streams: the dashboard in a real browser, the tail, lag, dead-letter replay."""

import asyncio
import json
import shutil
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import httpx
import pytest

from shared import ids
from shared.contracts import RequestEvent
from shared.events import EventCodec
from shared.tenants import Registry
from shared.topics import SERVICES
from tests.e2e.kafka_reading import await_group_past
from tests.e2e.platform import ROOT, requests_for_the_tail

codec = EventCodec(Registry.load())
ARTIFACTS = ROOT / "artifacts"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update"]


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's Chromium, installed by the project's prerequisites script when missing; never a download."""
    if not shutil.which("chromium"):
        subprocess.run(["bash", str(ROOT / "deploy" / "install-prerequisites.sh"), "--with-browser"], check=True)
    return shutil.which("chromium")


def ops_get(platform, path: str):
    return httpx.get(f"{platform.ops_url}{path}", headers={"Authorization": "Bearer dev-ops"}, timeout=30).json()


def await_ops(platform, path: str, holds, timeout_s: float = 60):
    deadline = time.monotonic() + timeout_s
    while True:
        body = ops_get(platform, path)
        if holds(body):
            return body
        assert time.monotonic() < deadline, f"{path}: not as expected after {timeout_s}s: {json.dumps(body)[:2000]}"
        time.sleep(0.5)


async def test_the_dashboard_shows_every_tenant_lag_and_an_injected_dead_letter(platform, chromium):
    from playwright.async_api import async_playwright

    partition, offset = await platform.produce("it.requests", f"garbage {uuid.uuid4()}".encode(), b"garbage")
    simulate = subprocess.Popen([sys.executable, "-m", "services.cli.main", "simulate", "--period", "2026-04",
                                 "--requests", "90", "--no-close"], cwd=ROOT, env=platform.env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
            page = await browser.new_page(viewport={"width": 1500, "height": 1400})
            await page.goto(f"{platform.ops_url}/ops#token=dev-ops")
            # Throughput for every tenant active in April 2026, drawn by the page's own chart.
            await page.wait_for_function("""() => {
                const traces = (document.getElementById('byTenant').data || []);
                const sum = (name) => traces.filter(t => t.name === name).flatMap(t => t.y).reduce((a, b) => a + b, 0);
                return ['council', 'ccg', 'hospital'].every(name => sum(name) > 0);
            }""", timeout=120_000)
            await page.wait_for_function("parseFloat(document.getElementById('tRate').innerText) > 0", timeout=30_000)
            await page.wait_for_function("document.querySelectorAll('#lag tr').length >= 4", timeout=60_000)
            lag_rows = await page.inner_text("#lag")
            assert "hps-it" in lag_rows and "hps-gateway-readmodel" in lag_rows
            await page.wait_for_function(f"document.getElementById('dead').innerText.includes('it.requests[{partition}]@{offset}')",
                                         timeout=60_000)
            assert "not JSON" in await page.inner_text("#dead")
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "ops-dashboard.png"), full_page=True)
            await browser.close()
        assert (ARTIFACTS / "ops-dashboard.png").stat().st_size > 10_000
    finally:
        out, _ = simulate.communicate(timeout=300)
    assert simulate.returncode == 0, out


def test_lag_rises_while_a_worker_is_stopped_and_falls_after_its_restart(platform, as_):
    council = as_("dev-council")
    # The HR worker has taken a request, so its group has a committed position to lag behind.
    council.await_status(council.submit("hr", "dbs-check", quantity=1).json()["request_id"], "submitted")
    asyncio.run(await_group_past(platform.bootstrap, "hps-hr", "hr.requests"))
    platform.stop("hr")
    for _ in range(5):
        assert council.submit("hr", "dbs-check", quantity=1).status_code == 202

    def hr(groups):
        return next((g for g in groups if g["group"] == "hps-hr"), None)

    # The unprocessed requests wait, and the oldest of them grows older with every reading.
    first = await_ops(platform, "/v1/ops/lag", lambda gs: hr(gs) and hr(gs)["lag"] >= 5
                      and hr(gs)["oldest_unprocessed_age_s"] > 0)
    older = await_ops(platform, "/v1/ops/lag", lambda gs: hr(gs)["oldest_unprocessed_age_s"]
                      > hr(first)["oldest_unprocessed_age_s"] + 1)
    assert hr(older)["lag"] >= 5
    await_ops(platform, "/v1/ops/lag", lambda gs: hr(gs)["status"] == "stalled")  # judged over the window

    platform.start("hr")
    recovered = await_ops(platform, "/v1/ops/lag", lambda gs: hr(gs)["lag"] == 0, timeout_s=120)
    assert hr(recovered)["status"] == "OK" and hr(recovered)["oldest_unprocessed_age_s"] == 0


async def test_a_replayed_dead_letter_is_processed_once(platform, as_):
    # An SLA check, timed two days ahead, for a request the IT worker has not heard of yet: a dead letter.
    key = f"replay-{uuid.uuid4()}"
    request_id = str(ids.derived(f"request/council/{key}"))
    check = codec.build(RequestEvent.SLA_CHECK.of("it"), "/hps/it", "council", {"request_id": request_id},
                        subject=request_id)
    check = check.model_copy(update={"time": check.time + timedelta(days=2)})
    k, value, headers = codec.encode(check, request_id)
    partition, offset = await platform.produce("it.requests", value, k, headers)
    letters = await_ops(platform, "/v1/ops/dead-letters", lambda body: any(
        d["source_offset"] == offset and d["source_partition"] == partition for d in body["dead_letters"]))
    letter = next(d for d in letters["dead_letters"] if d["source_offset"] == offset)
    assert "no it request" in letter["reason"] and letter["replayed"] is False

    # The request arrives (an incident due in a day); ops replays the dead letter, and it applies.
    council = as_("dev-council")
    council.submit("it", "incident", hours="1", headers={"Idempotency-Key": key})
    council.await_status(request_id, "submitted")
    replayed = as_("dev-ops").http.post(f"/v1/ops/dead-letters/{letter['id']}/replay")
    assert replayed.status_code == 200, replayed.text
    deadline = time.monotonic() + 30
    while not (view := council.get(request_id).json())["sla_breached"]:
        assert time.monotonic() < deadline, view
        time.sleep(0.1)
    assert view["version"] == 2

    # Once only: a second replay is refused, a redelivery of the same event changes nothing.
    again = as_("dev-ops").http.post(f"/v1/ops/dead-letters/{letter['id']}/replay")
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_replayed"
    await platform.produce("it.requests", value, k, headers)
    await await_group_past(platform.bootstrap, "hps-it", "it.requests")  # the IT worker has handled it
    assert council.get(request_id).json()["version"] == 2
    audit = ops_get(platform, "/v1/ops/dead-letters")["replays"]
    assert [r["replayed_by"] for r in audit if r["dead_letter_id"] == letter["id"]] == ["Operations"]


def test_replaying_an_unknown_dead_letter_is_a_404_and_only_ops_may_replay(as_):
    unknown = as_("dev-ops").http.post("/v1/ops/dead-letters/9-999999/replay")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    for token in ("dev-finance", "dev-council", "dev-staff-it"):
        refused = as_(token).http.post("/v1/ops/dead-letters/9-999999/replay")
        assert refused.status_code == 403, refused.text


def tail(platform, **filters) -> list[dict]:
    """`GET /v1/ops/tail` without following: the recent events that pass the filters, one per SSE line."""
    response = httpx.get(f"{platform.ops_url}/v1/ops/tail", params={"follow": "false", **filters},
                         headers={"Authorization": "Bearer dev-ops"}, timeout=30)
    assert response.status_code == 200, response.text
    return [json.loads(line.removeprefix("data: ")) for line in response.text.splitlines() if line.startswith("data: ")]


def test_the_tail_narrows_to_the_tenant_service_and_type_asked_for(platform, as_):
    ids = requests_for_the_tail(as_, "Tail filters")

    def ours(lines) -> set[tuple[str, str]]:
        """(request, last word of the event type) for the lines about our own requests."""
        return {(line["subject"], line["type"].rsplit(".", 1)[-1]) for line in lines if line["subject"] in ids.values()}

    # The observer follows the topics on its own: wait until it has seen each submission and the worker's answer.
    everything = {(r, what) for r in ids.values() for what in ("submitted", "changed")}
    deadline = time.monotonic() + 60
    while not everything <= ours(tail(platform)):
        assert time.monotonic() < deadline, f"not in the tail after 60s: {everything - ours(tail(platform))}"
        time.sleep(0.5)

    by_tenant = tail(platform, tenant="ccg")
    assert {line["tenant"] for line in by_tenant} == {"ccg"}
    assert ours(by_tenant) == {(ids[n], w) for n in ("ccg finance", "ccg it") for w in ("submitted", "changed")}

    # A service's traffic is what is on its topics, whoever wrote it: the gateway's submissions too.
    by_service = tail(platform, service="finance")
    assert {line["service"] for line in by_service} == {"finance"}
    assert ours(by_service) == {(ids[n], w) for n in ("ccg finance", "hospital finance") for w in ("submitted", "changed")}

    by_type = tail(platform, type="request.submitted")
    assert {line["type"] for line in by_type} <= {f"uk.hps.{s}.request.submitted" for s in SERVICES}
    assert ours(by_type) == {(r, "submitted") for r in ids.values()}

    # The filters together: each narrows what the others let through.
    assert ours(tail(platform, tenant="ccg", service="finance", type="request.changed")) == {(ids["ccg finance"], "changed")}
