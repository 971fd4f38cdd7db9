"""`hps simulate`: a realistic month driven through the partner API, so a newcomer sees the platform work."""

import random
import time
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import typer
from rich.progress import Progress

from services.cli.client import UNAVAILABLE, Api, ApiFailure, fail
from shared.api.auth import Principal, load_tokens
from shared.catalogue import Catalogue, load_all
from shared.money import largest_remainder
from shared.settings import get_settings
from shared.tenants import Basis, Registry

PRIORITIES = (["P1"] * 1) + (["P2"] * 3) + (["P3"] * 10) + (["P4"] * 4)
# What becomes of a request by the end of the month.
FATES = (["complete"] * 85) + (["reject"] * 5) + (["cancel"] * 5) + (["open"] * 5)
# The shared unit's own monthly costs, and how the partners agreed to share them.
SHARED_COSTS = [
    ("it", "Wide-area network contract", "18500.00", "sites"),
    ("it", "Service desk software licences", "4200.00", "usage"),
    ("hr", "HR and payroll system licence", "6200.00", "staff"),
    ("finance", "Financial management system", "9800.00", "budget"),
    ("finance", "Shared unit management team", "42000.00", "fixed"),
    ("procurement", "Contracts register and e-tendering portal", "2750.00", "fixed"),
]


@dataclass
class Simulated:
    request_id: str
    tenant: str
    service: str
    request_type: str
    requested: dict
    fate: str


def token_for(tokens: dict[str, Principal], **wanted) -> str:
    for token, who in tokens.items():
        if all(getattr(who, k) == v for k, v in wanted.items()):
            return token
    raise typer.BadParameter(f"no token in the tokens file for {wanted}")


def measures(catalogue: Catalogue, request_type: str, rng: random.Random) -> dict:
    measure = catalogue.type(request_type).price.measure
    if measure == "quantity":
        return {"quantity": rng.choice([1, 1, 1, 2, 3, 5])}
    if measure == "hours":
        return {"hours": str(Decimal(rng.randint(2, 40)) / 4)}
    return {"value": str(Decimal(rng.choice([800, 4_500, 12_000, 30_000, 85_000, 240_000])))}


def simulate(period: str = typer.Option(..., help="the month to simulate, YYYY-MM"),
             requests: int = typer.Option(120, help="requests across all tenants, split by head count"),
             seed: int = typer.Option(2026, help="same seed, same month"),
             close: bool = typer.Option(True, help="record the shared costs and close the period")) -> None:
    """Drive a month of requests from every tenant active in PERIOD through the API (needs `hps up`),
    then record the shared unit's costs and close the period, issuing the statements."""
    settings = get_settings()
    registry, catalogues = Registry.load(settings.tenants_file), load_all(settings.catalogue_dir)
    tokens = load_tokens(settings.tokens_file)
    client = Api(settings.api_url, None)
    rng = random.Random(f"{seed}/{period}")
    first_day = date.fromisoformat(f"{period}-01")
    volumes = largest_remainder(requests, registry.weights(Basis.STAFF, first_day))
    typer.echo(f"Simulating {period}: " + ", ".join(f"{t} {n} requests" for t, n in volumes.items()))

    made: list[Simulated] = []
    with Progress() as progress:
        task = progress.add_task("Partners submit", total=requests)
        for tenant, count in volumes.items():
            partner = token_for(tokens, role="partner", tenant=tenant, budget_holder=False)
            for i in range(count):
                service = rng.choice(list(catalogues))
                request_type = rng.choice(catalogues[service].requestable())
                requested = measures(catalogues[service], request_type, rng)
                body = {"service": service, "type": request_type, "priority": rng.choice(PRIORITIES),
                        "description": f"{catalogues[service].type(request_type).name} for {tenant}",
                        "cost_centre": f"{tenant[:3].upper()}-{rng.randint(100, 140)}", **requested}
                accepted = client.call("POST", "/v1/requests", token=partner, json=body,
                                       headers={"Idempotency-Key": f"simulate/{seed}/{period}/{tenant}/{i}"})
                made.append(Simulated(accepted["request_id"], tenant, service, request_type, requested,
                                      rng.choice(FATES)))
                progress.advance(task)
        _wave(progress, client, tokens, made, "Budget holders approve", "awaiting_approval", "approve")
        _wave(progress, client, tokens, [m for m in made if m.fate == "cancel"], "Partners cancel", "submitted", "cancel")
        working = [m for m in made if m.fate in ("complete", "reject", "open")]
        _wave(progress, client, tokens, working, "Staff accept", "submitted", "accept")
        _wave(progress, client, tokens, [m for m in working if m.fate == "reject"], "Staff reject", "accepted", "reject",
              reason="Outside the service agreement")
        doing = [m for m in working if m.fate in ("complete", "open")]
        _wave(progress, client, tokens, doing, "Staff start", "accepted", "start")
        _wave(progress, client, tokens, [m for m in doing if m.fate == "complete"], "Staff complete", "in_progress",
              "complete", period=period)
    finance = token_for(tokens, role="finance")
    payroll = client.call("POST", "/v1/payroll/runs", token=finance, json={"period": period})
    fates = {fate: sum(1 for m in made if m.fate == fate) for fate in ("complete", "reject", "cancel", "open")}
    typer.echo(f"{len(made)} requests: {fates['complete']} completed, {fates['reject']} rejected, "
               f"{fates['cancel']} cancelled, {fates['open']} still in progress; payroll charged for {period}.")
    if not close:
        return
    for service, description, amount, basis in SHARED_COSTS:
        # Waits for the ledger's outcome: a cost it refuses stops the run here, saying why.
        client.call("POST", "/v1/finance/shared-costs", token=finance, params={"wait": "10"},
                    json={"service": service, "description": f"{description}, {period}", "amount": amount,
                          "period": period, "basis": basis},
                    headers={"Idempotency-Key": f"simulate/{seed}/{period}/{service}/{description}"})
    _await_ledger(client, finance, period, len(payroll["tenants"]) + fates["complete"], len(SHARED_COSTS))
    status = client.call("GET", f"/v1/finance/periods/{period}", token=finance)
    if status["status"] == "closed":
        typer.echo(f"{period} was closed already: its statements stand.")
        return _read_them(period)
    try:
        closed = client.call("POST", f"/v1/finance/periods/{period}/close", token=finance)
    except ApiFailure as exc:
        if exc.error.get("code") != "period_blocked":
            raise
        for b in exc.error["blockers"]:
            typer.echo(f"Blocked by shared cost {b['cost_id']} ({b['description']}): {b['reason']}; {b['what_to_do']}")
        raise  # exits 4, as any refusal
    for s in closed["statements"]:
        typer.echo(f"Statement {s['number']} for {s['tenant']}: £{s['total']}")
    _read_them(period)


def _read_them(period: str) -> None:
    typer.echo(f"Read them with: HPS_TOKEN=dev-finance hps finance statements --period {period}\n"
               f"           and: HPS_TOKEN=dev-finance hps finance statement NUMBER --format pdf --output NUMBER.pdf")


def _await_ledger(client: Api, token: str, period: str, charges: int, costs: int, timeout_s: float = 60) -> None:
    """Wait until the recharge engine has posted at least what this run produced."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = client.call("GET", f"/v1/finance/periods/{period}", token=token)
        if status["status"] == "closed" or (status["charges"] >= charges and status["shared_costs"] >= costs):
            return
        if time.monotonic() > deadline:
            raise fail(f"the ledger has {status['charges']} of {charges} charges after {timeout_s}s: "
                       "is the finance ledger up?", UNAVAILABLE)
        time.sleep(0.3)


def _wave(progress: Progress, client: Api, tokens, batch: list[Simulated], label: str, from_status: str, action: str,
          **extra) -> None:
    """Take `action` on every request of `batch` that is in `from_status` once the service shows it there."""
    task = progress.add_task(label, total=len(batch))
    for m in batch:
        role = ({"role": "partner", "tenant": m.tenant, "budget_holder": action == "approve"}
                if action in ("approve", "cancel") else {"role": "staff", "service": m.service})
        token = token_for(tokens, **role)
        status = _await_status(client, token, m.request_id)
        if status == from_status:
            body = {"action": action, **extra}
            if action == "complete":
                body |= m.requested
            try:
                client.call("POST", f"/v1/requests/{m.request_id}/transitions", token=token, json=body)
            except ApiFailure as exc:
                if exc.status != 409:  # moved on already: a second run of the same month
                    raise
        progress.advance(task)
    for m in batch:  # the next wave acts on what this one did
        _await_status(client, token_for(tokens, role="finance"), m.request_id, not_in=from_status)


def _await_status(client: Api, token: str, request_id: str, not_in: str | None = None, timeout_s: float = 30) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            status = client.call("GET", f"/v1/requests/{request_id}", token=token)["status"]
            if status != not_in:
                return status
        except ApiFailure as exc:
            if exc.status != 404:
                raise
        if time.monotonic() > deadline:
            raise fail(f"request {request_id} did not move on within {timeout_s}s: is every worker up?", UNAVAILABLE)
        time.sleep(0.1)
