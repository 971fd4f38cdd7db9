"""`hps submit`, `hps requests list|show|transition`, `hps payroll run`: the partner API from a shell."""

import json
import time
from decimal import Decimal

import httpx
import typer

from services.cli.client import ApiFailure, TokenOption, api, fail

requests = typer.Typer(help="Follow and move service requests.", no_args_is_help=True)
payroll = typer.Typer(help="Monthly payroll charges.", no_args_is_help=True)


def _measures(quantity: int | None, hours: Decimal | None, value: Decimal | None) -> dict:
    given = {"quantity": quantity, "hours": str(hours) if hours else None, "value": str(value) if value else None}
    return {k: v for k, v in given.items() if v is not None}


def _show(body) -> None:
    typer.echo(json.dumps(body, indent=2))


def submit(
    service: str = typer.Option(..., help="hr, it, procurement or finance"),
    type: str = typer.Option(..., "--type", help="a request type of the service's catalogue"),
    description: str = typer.Option(...),
    cost_centre: str = typer.Option(..., help="the partner's cost centre, e.g. ASC-100"),
    priority: str = typer.Option("P3", help="P1 (urgent) to P4"),
    quantity: int = typer.Option(None), hours: Decimal = typer.Option(None), value: Decimal = typer.Option(None),
    idempotency_key: str = typer.Option(None, help="resubmitting with the same key returns the same request"),
    wait: bool = typer.Option(True, help="wait until the service has registered the request"),
    token: str = TokenOption,
) -> None:
    """Submit a service request as a partner; prints the request."""
    client = api(token)
    body = {"service": service, "type": type, "priority": priority, "description": description,
            "cost_centre": cost_centre, **_measures(quantity, hours, value)}
    try:
        accepted = client.call("POST", "/v1/requests", json=body,
                               headers={"Idempotency-Key": idempotency_key} if idempotency_key else None)
        _show(_await_visible(client, accepted["request_id"]) if wait else accepted)
    except (ApiFailure, httpx.HTTPError) as exc:
        raise fail(exc)


def _await_visible(client, request_id: str, timeout_s: float = 10) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return client.call("GET", f"/v1/requests/{request_id}")
        except ApiFailure as exc:
            if exc.status != 404 or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@requests.command("list")
def list_(status: str = typer.Option(None), service: str = typer.Option(None),
          all_pages: bool = typer.Option(False, "--all", help="follow the cursor to the end"),
          token: str = TokenOption) -> None:
    """Requests you may see, newest first: a partner its own, staff their service's."""
    client = api(token)
    params = {k: v for k, v in {"status": status, "service": service}.items() if v}
    try:
        while True:
            page = client.call("GET", "/v1/requests", params=params)
            for r in page["items"]:
                typer.echo(f"{r['request_id']}  {r['tenant']:<9} {r['service']:<12} {r['request_type']:<22} "
                           f"{r['priority']} {r['status']:<18} £{r['amount']:>10}{'  SLA BREACHED' if r['sla_breached'] else ''}")
            if not (all_pages and page["next_cursor"]):
                break
            params["cursor"] = page["next_cursor"]
    except (ApiFailure, httpx.HTTPError) as exc:
        raise fail(exc)


@requests.command()
def show(request_id: str, token: str = TokenOption) -> None:
    """One request, whole."""
    try:
        _show(api(token).call("GET", f"/v1/requests/{request_id}"))
    except (ApiFailure, httpx.HTTPError) as exc:
        raise fail(exc)


@requests.command()
def transition(request_id: str, action: str = typer.Argument(..., help="accept, start, complete, reject, cancel, approve"),
               reason: str = typer.Option(None), quantity: int = typer.Option(None),
               hours: Decimal = typer.Option(None), value: Decimal = typer.Option(None),
               period: str = typer.Option(None, help="complete: the month to charge (YYYY-MM)"),
               token: str = TokenOption) -> None:
    """Move a request on: staff accept/start/complete/reject; partners cancel and approve."""
    body = {"action": action, **_measures(quantity, hours, value),
            **({"reason": reason} if reason else {}), **({"period": period} if period else {})}
    try:
        _show(api(token).call("POST", f"/v1/requests/{request_id}/transitions", json=body))
    except ApiFailure as exc:
        if exc.error.get("allowed") is not None:
            typer.echo(f"allowed now: {', '.join(exc.error['allowed']) or 'nothing'}", err=True)
        raise fail(exc)
    except httpx.HTTPError as exc:
        raise fail(exc)


@payroll.command("run")
def payroll_run(period: str, token: str = TokenOption) -> None:
    """Charge every tenant's payroll for PERIOD (YYYY-MM); running it again charges nothing more."""
    try:
        _show(api(token).call("POST", "/v1/payroll/runs", json={"period": period}))
    except (ApiFailure, httpx.HTTPError) as exc:
        raise fail(exc)
