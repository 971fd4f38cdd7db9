"""`hps finance …`: shared costs and credits, corrections, withdrawals and re-bases, command outcomes,
previews, period close, statements, their signatures, reconciliation."""

import hashlib
import json
from decimal import Decimal
from pathlib import Path

import httpx
import typer

from services.cli.client import ApiFailure, TokenOption, api, fail
from services.finance.ledger import signing

finance = typer.Typer(help="The recharge ledger: month end and statements (role finance; partners read their own).",
                      no_args_is_help=True)


def _call(token: str | None, method: str, path: str, **kw):
    try:
        return api(token).call(method, path, **kw)
    except (ApiFailure, httpx.HTTPError) as exc:
        raise fail(exc)


WaitOption = typer.Option(0, "--wait", min=0, max=30, help="wait up to this many seconds for the ledger's outcome")


def _print_statements(statements: list[dict]) -> None:
    for s in statements:
        t = s["totals"]
        typer.echo(f"{s['tenant']['code']:<10} {s.get('statement_number', 'draft'):<18} direct £{t['direct_charges']:>12}"
                   f"  shared £{t['shared_costs']:>12}  corrections £{t.get('corrections', '0.00'):>10}"
                   f"  adjustments £{t['prior_period_adjustments']:>10}  total £{t['total']:>12}")


def _print_blockers(blockers: list[dict]) -> None:
    """Each shared cost that stops the close: which, why, and what to do."""
    for b in blockers:
        typer.echo(f"BLOCKED {b['cost_id']}  {b['service']:<12} £{b['amount']:>12}  {b['basis']:<7} {b['description']}")
        typer.echo(f"        why: {b['reason']}")
        bases = ", ".join(next(a for a in b["actions"] if a["action"] == "rebasis")["bases"]) or "none"
        typer.echo(f"        do:  hps finance withdraw {b['cost_id']} --reason …   or   "
                   f"hps finance rebasis {b['cost_id']} --basis BASIS --reason …  (bases that would do: {bases})")


def _command(token: str | None, path: str, body: dict, wait: int, idempotency_key: str | None = None) -> None:
    """POST a finance command and print its outcome (with --wait, once the ledger has decided)."""
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    params = {"wait": str(wait)} if wait else None
    typer.echo(json.dumps(_call(token, "POST", path, json=body, headers=headers, params=params)))


@finance.command("shared-cost")
def shared_cost(service: str = typer.Option(...), description: str = typer.Option(...),
                amount: Decimal = typer.Option(..., help="pounds, e.g. 18500.00; negative for a credit or refund"),
                period: str = typer.Option(..., help="YYYY-MM"),
                basis: str = typer.Option(..., help="staff, sites, budget, fixed or usage"),
                reason: str = typer.Option(None, help="why: required for a credit or refund"),
                idempotency_key: str = typer.Option(None), wait: int = WaitOption, token: str = TokenOption) -> None:
    """Record a cost of the shared unit (or a credit), apportioned between the tenants of its period at close."""
    body = {"service": service, "description": description, "amount": str(amount), "period": period, "basis": basis,
            **({"reason": reason} if reason else {})}
    _command(token, "/v1/finance/shared-costs", body, wait, idempotency_key)


@finance.command()
def correct(charge_id: str, amount: Decimal = typer.Option(None, help="the corrected amount"),
            reason: str = typer.Option(...), quantity: Decimal = typer.Option(None, help="the corrected quantity"),
            wait: int = WaitOption, token: str = TokenOption) -> None:
    """Correct a posted charge: a reversal plus a new entry. A quantity alone is charged at the unit price."""
    body = {"charge_id": charge_id, "reason": reason, **({"amount": str(amount)} if amount is not None else {}),
            **({"quantity": str(quantity)} if quantity is not None else {})}
    _command(token, "/v1/finance/corrections", body, wait)


@finance.command()
def withdraw(cost_id: str, reason: str = typer.Option(...), wait: int = WaitOption, token: str = TokenOption) -> None:
    """Take a shared cost back: its shares reversed on the next open statement, or never apportioned."""
    _command(token, f"/v1/finance/shared-costs/{cost_id}/withdraw", {"reason": reason}, wait)


@finance.command()
def rebasis(cost_id: str, basis: str = typer.Option(..., help="staff, sites, budget, fixed or usage"),
            reason: str = typer.Option(...), wait: int = WaitOption, token: str = TokenOption) -> None:
    """Withdraw a shared cost and record it again on another basis."""
    _command(token, f"/v1/finance/shared-costs/{cost_id}/rebasis", {"basis": basis, "reason": reason}, wait)


@finance.command("command")
def command_outcome(command_id: str, wait: int = WaitOption, token: str = TokenOption) -> None:
    """A finance command's outcome: pending, applied (with what was posted) or refused (with why)."""
    params = {"wait": str(wait)} if wait else None
    typer.echo(json.dumps(_call(token, "GET", f"/v1/finance/commands/{command_id}", params=params), indent=2))


@finance.command()
def preview(period: str, tenant: str = typer.Option(None), as_json: bool = typer.Option(False, "--json"),
            token: str = TokenOption) -> None:
    """Draft statements of PERIOD as they would be issued now, and what would stop the close."""
    drafted = _call(token, "GET", f"/v1/finance/periods/{period}/preview", params={"tenant": tenant} if tenant else {})
    if as_json:
        typer.echo(json.dumps(drafted, indent=2))
        return
    _print_statements(drafted["statements"])
    _print_blockers(drafted["blockers"])


@finance.command()
def close(period: str, token: str = TokenOption) -> None:
    """Freeze PERIOD and issue one numbered, immutable statement per tenant."""
    try:
        result = api(token).call("POST", f"/v1/finance/periods/{period}/close")
    except ApiFailure as exc:
        if exc.error.get("code") == "period_blocked":
            typer.echo(f"error: {exc}", err=True)
            _print_blockers(exc.error.get("blockers", []))
            raise typer.Exit(1)
        raise fail(exc)
    except httpx.HTTPError as exc:
        raise fail(exc)
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
    _print_blockers(result.get("blockers", []))
    for s in result.get("unverified_statements", []):
        typer.echo(f"UNVERIFIED {s['number']}: {s['problem']}")
    typer.echo("balanced to the penny" if result["balanced"] else "NOT BALANCED")
    if not result["balanced"]:
        raise typer.Exit(1)


@finance.command()
def verify(period: str = typer.Argument(None, help="a month, e.g. 2026-10; all issued statements without it"),
           token: str = TokenOption) -> None:
    """Check issued statements with the published key: each one's signature and content, and each
    tenant's chain (a statement removed or replaced breaks it); exits 1 if one does not hold."""
    client = api(token)
    keys = signing.public_keys(_call(token, "GET", "/v1/finance/statement-keys"))
    listed = _call(token, "GET", "/v1/finance/statements")
    links = [signing.Link(s["number"], s["sequence"], s["tenant"], s["period"], s["body_sha256"], s["signature"],
                          s["previous_signature"], s["key_id"]) for s in listed]
    found = signing.problems(links, keys, every_tenant=len({s["tenant"] for s in listed}) > 1)
    checked = [s for s in listed if period in (None, s["period"])]
    for s in checked:
        found.setdefault(s["number"], _content_problem(client, s))
    for s in checked:
        typer.echo(f"{s['number']}  {s['period']}  {s['tenant']:<10} "
                   + (f"BROKEN: {found[s['number']]}" if found[s["number"]] else "verified"))
    broken = sum(1 for s in checked if found[s["number"]])
    typer.echo(f"{len(checked) - broken} of {len(checked)} statements verified with key(s) {', '.join(keys) or 'none'}")
    if broken or not checked and period:
        raise typer.Exit(1)


def _content_problem(client, listed: dict) -> str | None:
    """Whether the statement served is the one signed: the SHA-256 of its JSON, read as it streams."""
    digest = hashlib.sha256()
    try:
        with client.http.stream("GET", f"/v1/finance/statements/{listed['number']}",
                                headers={"Authorization": f"Bearer {client.token}"}) as response:
            if response.status_code != 200:
                response.read()
                return f"the ledger refuses to serve it ({ApiFailure(response.status_code, response.json())})"
            for chunk in response.iter_bytes():
                digest.update(chunk)
    except httpx.HTTPError as exc:
        raise fail(exc)
    if listed["signature"] is not None and digest.hexdigest() != listed["body_sha256"]:
        return "its content is not what was signed"
    return None
