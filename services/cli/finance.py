"""`hps finance …`: shared costs, corrections, previews, period close, statements, reconciliation."""

import json
from decimal import Decimal
from pathlib import Path

import httpx
import typer

from services.cli.client import ApiFailure, TokenOption, api, fail

finance = typer.Typer(help="The recharge ledger: month end and statements (role finance; partners read their own).",
                      no_args_is_help=True)


def _call(token: str | None, method: str, path: str, **kw):
    try:
        return api(token).call(method, path, **kw)
    except (ApiFailure, httpx.HTTPError) as exc:
        raise fail(exc)


def _print_statements(statements: list[dict]) -> None:
    for s in statements:
        t = s["totals"]
        typer.echo(f"{s['tenant']['code']:<10} {s.get('statement_number', 'draft'):<18} direct £{t['direct_charges']:>12}"
                   f"  shared £{t['shared_costs']:>12}  adjustments £{t['prior_period_adjustments']:>10}"
                   f"  total £{t['total']:>12}")


@finance.command("shared-cost")
def shared_cost(service: str = typer.Option(...), description: str = typer.Option(...),
                amount: Decimal = typer.Option(..., help="pounds, e.g. 18500.00"),
                period: str = typer.Option(..., help="YYYY-MM"),
                basis: str = typer.Option(..., help="staff, sites, budget, fixed or usage"),
                idempotency_key: str = typer.Option(None), token: str = TokenOption) -> None:
    """Record a cost of the shared unit, apportioned between the tenants of its period at close."""
    body = {"service": service, "description": description, "amount": str(amount), "period": period, "basis": basis}
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    typer.echo(json.dumps(_call(token, "POST", "/v1/finance/shared-costs", json=body, headers=headers)))


@finance.command()
def correct(charge_id: str, amount: Decimal = typer.Option(...), reason: str = typer.Option(...),
            quantity: Decimal = typer.Option(None), token: str = TokenOption) -> None:
    """Correct a posted charge: a reversal plus a new entry on the next open statement."""
    body = {"charge_id": charge_id, "amount": str(amount), "reason": reason,
            **({"quantity": str(quantity)} if quantity else {})}
    typer.echo(json.dumps(_call(token, "POST", "/v1/finance/corrections", json=body)))


@finance.command()
def preview(period: str, tenant: str = typer.Option(None), as_json: bool = typer.Option(False, "--json"),
            token: str = TokenOption) -> None:
    """Draft statements of PERIOD as they would be issued now."""
    drafts = _call(token, "GET", f"/v1/finance/periods/{period}/preview", params={"tenant": tenant} if tenant else {})
    typer.echo(json.dumps(drafts, indent=2)) if as_json else _print_statements(drafts)


@finance.command()
def close(period: str, token: str = TokenOption) -> None:
    """Freeze PERIOD and issue one numbered, immutable statement per tenant."""
    result = _call(token, "POST", f"/v1/finance/periods/{period}/close")
    for s in result["statements"]:
        typer.echo(f"{s['number']}  {s['tenant']:<10} £{s['total']:>12}  sha256 {s['content_sha256'][:16]}…")


@finance.command()
def statements(period: str = typer.Option(None), tenant: str = typer.Option(None), token: str = TokenOption) -> None:
    """Issued statements you may read."""
    params = {k: v for k, v in {"period": period, "tenant": tenant}.items() if v}
    for s in _call(token, "GET", "/v1/finance/statements", params=params):
        typer.echo(f"{s['number']}  {s['period']}  {s['tenant']:<10} £{s['total']:>12}")


@finance.command()
def statement(number: str, format: str = typer.Option("json", help="json, csv or pdf"),
              output: Path = typer.Option(None, help="write to this file (default: standard output; PDF needs it)"),
              token: str = TokenOption) -> None:
    """One issued statement as JSON, CSV or PDF."""
    client = api(token)
    try:
        response = client.http.get(f"/v1/finance/statements/{number}", params={"format": format},
                                   headers={"Authorization": f"Bearer {client.token}"})
    except httpx.HTTPError as exc:
        raise fail(exc)
    if response.status_code >= 400:
        raise fail(ApiFailure(response.status_code, response.json()))
    if output:
        output.write_bytes(response.content)
        typer.echo(f"{number} written to {output}")
    elif format == "pdf":
        raise fail(ValueError("a PDF needs --output FILE"))
    else:
        typer.echo(response.text)


@finance.command()
def reconcile(period: str, token: str = TokenOption) -> None:
    """Per service, costs recorded against amounts recharged; exits 1 unless equal to the penny."""
    result = _call(token, "GET", f"/v1/finance/periods/{period}/reconciliation")
    typer.echo(f"{'service':<12} {'direct':>14} {'shared':>14} {'recorded':>14} {'recharged':>14} {'difference':>11}")
    for r in result["services"]:
        typer.echo(f"{r['service']:<12} {r['direct_charges']:>14} {r['shared_costs']:>14} {r['recorded']:>14} "
                   f"{r['recharged']:>14} {r['difference']:>11}")
    typer.echo("balanced to the penny" if result["balanced"] else "NOT BALANCED")
    if not result["balanced"]:
        raise typer.Exit(1)
