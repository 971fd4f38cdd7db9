"""`hps submit`, `hps requests list|show|history|transition`, `hps payroll run`: the partner API from a shell.

Commands wait for their outcome by default: the request once its service has applied the
command, or the refusal (exit 1); still undecided after the wait, exit 3 naming where to look."""

import json
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


WaitOption = typer.Option(10.0, "--wait", min=0, max=30,
                          help="seconds to wait for the service's decision (0: print the 202 and return)")


def _decided(outcome: dict, wait_s: float) -> dict:
    """The request a command led to; exits 3 if it is still pending after the wait."""
    if outcome["state"] == "pending" and wait_s > 0:
        typer.echo(f"still pending after {wait_s:g}s; read the outcome at {outcome['location']}", err=True)
        raise typer.Exit(3)
    return outcome["result"] if outcome["state"] == "applied" else outcome


def _command(path: str, body: dict, wait_s: float, token: str | None, headers: dict | None = None) -> None:
    params = {"wait": f"{wait_s:g}s"} if wait_s > 0 else None
    try:
        _show(_decided(api(token).call("POST", path, json=body, params=params, headers=headers), wait_s))
    except ApiFailure as exc:
        if exc.error.get("allowed") is not None:
            typer.echo(f"allowed now: {', '.join(exc.error['allowed']) or 'nothing'}", err=True)
        raise fail(exc)
    except httpx.HTTPError as exc:
        raise fail(exc)


def submit(
    service: str = typer.Option(..., help="hr, it, procurement or finance"),
    type: str = typer.Option(..., "--type", help="a request type of the service's catalogue"),
    description: str = typer.Option(...),
    cost_centre: str = typer.Option(..., help="the partner's cost centre, e.g. ASC-100"),
    priority: str = typer.Option("P3", help="P1 (urgent) to P4"),
    quantity: int = typer.Option(None), hours: Decimal = typer.Option(None), value: Decimal = typer.Option(None),
    idempotency_key: str = typer.Option(None, help="resubmitting with the same key returns the same request"),
    wait: float = WaitOption,
    token: str = TokenOption,
) -> None:
    """Submit a service request as a partner; prints the request once its service has it."""
    body = {"service": service, "type": type, "priority": priority, "description": description,
            "cost_centre": cost_centre, **_measures(quantity, hours, value)}
    _command("/v1/requests", body, wait, token, {"Idempotency-Key": idempotency_key} if idempotency_key else None)


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
def history(request_id: str, token: str = TokenOption) -> None:
    """Every change of a request and every command refused on it: when, who, what."""
    try:
        for line in api(token).call("GET", f"/v1/requests/{request_id}/history"):
            outcome = line["status"] if line["outcome"] == "applied" else f"REFUSED ({line['status']})"
            typer.echo(f"{line['at'][:19]}  {line['actor']:<24} {line['action']:<10} {outcome}"
                       f"{'  ' + line['reason'] if line['reason'] else ''}")
    except (ApiFailure, httpx.HTTPError) as exc:
        raise fail(exc)


@requests.command()
def transition(request_id: str, action: str = typer.Argument(..., help="accept, start, complete, reject, cancel, approve"),
               reason: str = typer.Option(None), quantity: int = typer.Option(None),
               hours: Decimal = typer.Option(None), value: Decimal = typer.Option(None),
               period: str = typer.Option(None, help="complete: the month to charge (YYYY-MM)"),
               wait: float = WaitOption, token: str = TokenOption) -> None:
    """Move a request on: staff accept/start/complete/reject; partners cancel, budget holders approve.
    Prints the request as the service left it; a refusal lists what is allowed now and exits 1."""
    body = {"action": action, **_measures(quantity, hours, value),
            **({"reason": reason} if reason else {}), **({"period": period} if period else {})}
    _command(f"/v1/requests/{request_id}/transitions", body, wait, token)


@payroll.command("run")
def payroll_run(period: str, wait: float = WaitOption, token: str = TokenOption) -> None:
    """Charge every tenant's payroll for PERIOD (YYYY-MM); running it again charges nothing more.
    Prints what each tenant was charged, once HR has answered for all of them."""
    params = {"wait": f"{wait:g}s"} if wait > 0 else None
    try:
        run = api(token).call("POST", "/v1/payroll/runs", json={"period": period}, params=params)
    except (ApiFailure, httpx.HTTPError) as exc:
        raise fail(exc)
    for command in run["commands"]:
        tenant = command["request_id"].rsplit("/", 1)[-1]
        charged = command["result"]
        if charged is None:
            typer.echo(f"{tenant:<10} {command['state']:<8} {command['location']}")
        else:
            typer.echo(f"{tenant:<10} {charged['payslips']:>6} payslips  £{charged['amount']:>10}"
                       f"{'  (charged before)' if charged['charged_before'] else ''}")
    if wait > 0 and any(c["state"] == "pending" for c in run["commands"]):
        typer.echo(f"still pending after {wait:g}s", err=True)
        raise typer.Exit(3)
