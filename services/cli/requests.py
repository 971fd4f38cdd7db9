"""`hps submit`, `hps requests list|show|history|transition`, `hps payroll run`: the partner API from a shell.

Commands wait for their outcome by default (`--wait 10`): the request once its service has applied
the command, or the refusal (exit 4); still undecided after the wait, exit 0 naming where to look."""

from decimal import Decimal

import typer

from services.cli.client import ApiFailure, TokenOption, api
from services.cli.outcome import ask, exit_by, wait_option
from services.cli.output import Output, OutputOption, pretty, show, show_page

requests = typer.Typer(help="Follow and move service requests.", no_args_is_help=True)
payroll = typer.Typer(help="Monthly payroll charges.", no_args_is_help=True)

WaitOption = wait_option(10)


def _measures(quantity: int | None, hours: Decimal | None, value: Decimal | None) -> dict:
    given = {"quantity": quantity, "hours": str(hours) if hours else None, "value": str(value) if value else None}
    return {k: v for k, v in given.items() if v is not None}


def _command(path: str, body: dict, wait_s: float, output: Output, token: str | None,
             headers: dict | None = None) -> None:
    """Send a request's command; print the request it led to (in JSON, the whole outcome)."""
    try:
        outcome = ask(token, "POST", path, wait_s, json=body, headers=headers)
    except ApiFailure as exc:
        if exc.error.get("allowed") is not None:
            typer.echo(f"allowed now: {', '.join(exc.error['allowed']) or 'nothing'}", err=True)
        raise
    show(outcome, output, lambda o: pretty(o["result"] if o["state"] == "applied" else o))
    exit_by([outcome], wait_s)


def submit(
    service: str = typer.Option(..., help="hr, it, procurement or finance"),
    type: str = typer.Option(..., "--type", help="a request type of the service's catalogue"),
    description: str = typer.Option(...),
    cost_centre: str = typer.Option(..., help="the partner's cost centre, e.g. ASC-100"),
    priority: str = typer.Option("P3", help="P1 (urgent) to P4"),
    quantity: int = typer.Option(None), hours: Decimal = typer.Option(None), value: Decimal = typer.Option(None),
    idempotency_key: str = typer.Option(None, help="resubmitting with the same key returns the same request"),
    wait: float = WaitOption, output: Output = OutputOption, token: str = TokenOption,
) -> None:
    """Submit a service request as a partner; prints the request once its service has it."""
    body = {"service": service, "type": type, "priority": priority, "description": description,
            "cost_centre": cost_centre, **_measures(quantity, hours, value)}
    _command("/v1/requests", body, wait, output, token,
             {"Idempotency-Key": idempotency_key} if idempotency_key else None)


def _request_lines(items: list[dict]) -> None:
    for r in items:
        typer.echo(f"{r['request_id']}  {r['tenant']:<9} {r['service']:<12} {r['request_type']:<22} "
                   f"{r['priority']} {r['status']:<18} £{r['amount']:>10}{'  SLA BREACHED' if r['sla_breached'] else ''}")


@requests.command("list")
def list_(status: str = typer.Option(None), service: str = typer.Option(None),
          limit: int = typer.Option(50, min=1, max=200, help="requests per page"),
          cursor: str = typer.Option(None, help="start at this page (the `more:` line names the next)"),
          all_pages: bool = typer.Option(False, "--all", help="follow the cursor to the end"),
          output: Output = OutputOption, token: str = TokenOption) -> None:
    """Requests you may see, newest first: a partner its own, staff their service's."""
    params = {k: v for k, v in {"status": status, "service": service, "limit": limit, "cursor": cursor}.items() if v}
    show_page(api(token).page("/v1/requests", params, all_pages), output, _request_lines, "hps requests list", params)


@requests.command("show")
def show_request(request_id: str, output: Output = OutputOption, token: str = TokenOption) -> None:
    """One request, whole."""
    show(api(token).call("GET", f"/v1/requests/{request_id}"), output, pretty)


def _history_lines(lines: list[dict]) -> None:
    for line in lines:
        outcome = line["status"] if line["outcome"] == "applied" else f"REFUSED ({line['status']})"
        typer.echo(f"{line['at'][:19]}  {line['actor']:<24} {line['action']:<10} {outcome}"
                   f"{'  ' + line['reason'] if line['reason'] else ''}")


@requests.command()
def history(request_id: str, output: Output = OutputOption, token: str = TokenOption) -> None:
    """Every change of a request and every command refused on it: when, who, what."""
    show(api(token).call("GET", f"/v1/requests/{request_id}/history"), output, _history_lines)


@requests.command()
def transition(request_id: str, action: str = typer.Argument(..., help="accept, start, complete, reject, cancel, approve"),
               reason: str = typer.Option(None), quantity: int = typer.Option(None),
               hours: Decimal = typer.Option(None), value: Decimal = typer.Option(None),
               period: str = typer.Option(None, help="complete: the month to charge (YYYY-MM)"),
               wait: float = WaitOption, output: Output = OutputOption, token: str = TokenOption) -> None:
    """Move a request on: staff accept/start/complete/reject; partners cancel, budget holders approve.
    Prints the request as the service left it; a refusal lists what is allowed now and exits 4."""
    body = {"action": action, **_measures(quantity, hours, value),
            **({"reason": reason} if reason else {}), **({"period": period} if period else {})}
    _command(f"/v1/requests/{request_id}/transitions", body, wait, output, token)


def _charged_lines(run: dict) -> None:
    for command in run["commands"]:
        tenant = command["request_id"].rsplit("/", 1)[-1]
        charged = command["result"]
        if charged is None:
            typer.echo(f"{tenant:<10} {command['state']:<8} {command['location']}")
        else:
            typer.echo(f"{tenant:<10} {charged['payslips']:>6} payslips  £{charged['amount']:>10}"
                       f"{'  (charged before)' if charged['charged_before'] else ''}")


@payroll.command("run")
def payroll_run(period: str, wait: float = WaitOption, output: Output = OutputOption,
                token: str = TokenOption) -> None:
    """Charge every tenant's payroll for PERIOD (YYYY-MM); running it again charges nothing more.
    Prints what each tenant was charged, once HR has answered for all of them."""
    run = ask(token, "POST", "/v1/payroll/runs", wait, json={"period": period})
    show(run, output, _charged_lines)
    exit_by(run["commands"], wait)
