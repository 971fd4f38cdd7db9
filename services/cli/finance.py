"""`hps finance …`: shared costs and credits, corrections, withdrawals and re-bases, command outcomes,
previews, period close, statements, their signatures, reconciliation."""

import hashlib
from decimal import Decimal
from pathlib import Path

import typer

from services.cli.client import CHECK_FAILED, ApiFailure, TokenOption, api
from services.cli.outcome import ask, exit_by, wait_option
from services.cli.output import Output, OutputOption, pretty, show
from services.finance.ledger import signing

finance = typer.Typer(help="The recharge ledger: month end and statements (role finance; partners read their own).",
                      no_args_is_help=True)

WaitOption = wait_option(0)


def _get(token: str | None, path: str, **params) -> dict | list:
    return api(token).call("GET", path, params={k: v for k, v in params.items() if v})


def _print_statements(statements: list[dict]) -> None:
    for s in statements:
        t = s["totals"]
        typer.echo(f"{s['tenant']['code']:<10} {s.get('statement_number', 'draft'):<18} "
                   f"direct £{t['direct_charges']:>12}  shared £{t['shared_costs']:>12}  "
                   f"corrections £{t.get('corrections', '0.00'):>10}  adjustments £{t['prior_period_adjustments']:>10}  "
                   f"credit notes £{t.get('credit_notes', '0.00'):>10}  total £{t['total']:>12}")


def _print_blockers(blockers: list[dict]) -> None:
    """Each shared cost that stops the close: which, why, and what to do."""
    for b in blockers:
        typer.echo(f"BLOCKED {b['cost_id']}  {b['service']:<12} £{b['amount']:>12}  {b['basis']:<7} {b['description']}")
        typer.echo(f"        why: {b['reason']}")
        bases = ", ".join(next(a for a in b["actions"] if a["action"] == "rebasis")["bases"]) or "none"
        typer.echo(f"        do:  hps finance withdraw {b['cost_id']} --reason …   or   "
                   f"hps finance rebasis {b['cost_id']} --basis BASIS --reason …  (bases that would do: {bases})")


def send(token: str | None, path: str, body: dict, wait: float, output: Output,
             idempotency_key: str | None = None) -> None:
    """POST a finance command and print its outcome (with --wait, once the ledger has decided)."""
    outcome = ask(token, "POST", path, wait, json=body,
                  headers={"Idempotency-Key": idempotency_key} if idempotency_key else None)
    show(outcome, output, pretty)
    exit_by([outcome], wait)


@finance.command("shared-cost")
def shared_cost(service: str = typer.Option(...), description: str = typer.Option(...),
                amount: Decimal = typer.Option(..., help="pounds, e.g. 18500.00; negative for a credit or refund"),
                period: str = typer.Option(..., help="YYYY-MM"),
                basis: str = typer.Option(..., help="staff, sites, budget, fixed or usage"),
                reason: str = typer.Option(None, help="why: required for a credit or refund"),
                idempotency_key: str = typer.Option(None), wait: float = WaitOption, output: Output = OutputOption,
                token: str = TokenOption) -> None:
    """Record a cost of the shared unit (or a credit), apportioned between the tenants of its period at close."""
    body = {"service": service, "description": description, "amount": str(amount), "period": period, "basis": basis,
            **({"reason": reason} if reason else {})}
    send(token, "/v1/finance/shared-costs", body, wait, output, idempotency_key)


@finance.command()
def correct(charge_id: str, amount: Decimal = typer.Option(None, help="the corrected amount"),
            reason: str = typer.Option(...), quantity: Decimal = typer.Option(None, help="the corrected quantity"),
            wait: float = WaitOption, output: Output = OutputOption, token: str = TokenOption) -> None:
    """Correct a posted charge: a reversal plus a new entry. A quantity alone is charged at the unit price."""
    body = {"charge_id": charge_id, "reason": reason, **({"amount": str(amount)} if amount is not None else {}),
            **({"quantity": str(quantity)} if quantity is not None else {})}
    send(token, "/v1/finance/corrections", body, wait, output)


@finance.command()
def withdraw(cost_id: str, reason: str = typer.Option(...), wait: float = WaitOption, output: Output = OutputOption,
             token: str = TokenOption) -> None:
    """Take a shared cost back: its shares reversed on the next open statement, or never apportioned."""
    send(token, f"/v1/finance/shared-costs/{cost_id}/withdraw", {"reason": reason}, wait, output)


@finance.command()
def rebasis(cost_id: str, basis: str = typer.Option(..., help="staff, sites, budget, fixed or usage"),
            reason: str = typer.Option(...), wait: float = WaitOption, output: Output = OutputOption,
            token: str = TokenOption) -> None:
    """Withdraw a shared cost and record it again on another basis."""
    send(token, f"/v1/finance/shared-costs/{cost_id}/rebasis", {"basis": basis, "reason": reason}, wait, output)


@finance.command("command")
def command_outcome(command_id: str, wait: float = WaitOption, output: Output = OutputOption,
                    token: str = TokenOption) -> None:
    """A finance command's outcome: pending, applied (with what was posted) or refused (with why, exit 4)."""
    outcome = ask(token, "GET", f"/v1/finance/commands/{command_id}", wait)
    show(outcome, output, pretty)
    exit_by([outcome], wait)


def _draft(drafted: dict) -> None:
    _print_statements(drafted["statements"])
    _print_blockers(drafted["blockers"])


@finance.command()
def preview(period: str, tenant: str = typer.Option(None), output: Output = OutputOption,
            as_json: bool = typer.Option(False, "--json", hidden=True, help="as --output json, which it was"),
            token: str = TokenOption) -> None:
    """Draft statements of PERIOD as they would be issued now, and what would stop the close."""
    show(_get(token, f"/v1/finance/periods/{period}/preview", tenant=tenant), Output.json if as_json else output,
         _draft)


def _issued(result: dict) -> None:
    for s in result["statements"]:
        typer.echo(f"{s['number']}  {s['tenant']:<10} £{s['total']:>12}  sha256 {s['content_sha256'][:16]}…")


@finance.command()
def close(period: str, output: Output = OutputOption, token: str = TokenOption) -> None:
    """Freeze PERIOD and issue one numbered, immutable statement per tenant; blocked, what to do (exit 4)."""
    try:
        result = api(token).call("POST", f"/v1/finance/periods/{period}/close")
    except ApiFailure as exc:
        if exc.error.get("code") == "period_blocked":
            _print_blockers(exc.error.get("blockers", []))
        raise
    show(result, output, _issued)


def _statement_lines(listed: list[dict]) -> None:
    for s in listed:
        typer.echo(f"{s['number']}  {s['period']}  {s['tenant']:<10} £{s['total']:>12}")


@finance.command()
def statements(period: str = typer.Option(None), tenant: str = typer.Option(None), output: Output = OutputOption,
               token: str = TokenOption) -> None:
    """Issued statements you may read."""
    show(_get(token, "/v1/finance/statements", period=period, tenant=tenant), output, _statement_lines)


@finance.command()
def statement(number: str, format: str = typer.Option("json", help="json, csv or pdf"),
              output: Path = typer.Option(None, help="write to this file (default: standard output; PDF needs it)"),
              token: str = TokenOption) -> None:
    """One issued statement as JSON, CSV or PDF."""
    if format == "pdf" and not output:
        raise typer.BadParameter("a PDF needs --output FILE", param_hint="--output")
    client = api(token)
    response = client.http.get(f"/v1/finance/statements/{number}", params={"format": format},
                               headers={"Authorization": f"Bearer {client.token}"})
    if response.status_code >= 400:
        raise ApiFailure.of(response)
    if output:
        output.write_bytes(response.content)
        typer.echo(f"{number} written to {output}")
    else:
        typer.echo(response.text)


def _balance(result: dict) -> None:
    typer.echo(f"{'service':<12} {'direct':>14} {'shared':>14} {'recorded':>14} {'recharged':>14} {'difference':>11}")
    for r in result["services"]:
        typer.echo(f"{r['service']:<12} {r['direct_charges']:>14} {r['shared_costs']:>14} {r['recorded']:>14} "
                   f"{r['recharged']:>14} {r['difference']:>11}")
    _print_blockers(result.get("blockers", []))
    for s in result.get("unverified_statements", []):
        typer.echo(f"UNVERIFIED {s['number']}: {s['problem']}")
    typer.echo("balanced to the penny" if result["balanced"] else "NOT BALANCED")


@finance.command()
def reconcile(period: str, output: Output = OutputOption, token: str = TokenOption) -> None:
    """Per service, costs recorded against amounts recharged; exits 1 unless equal to the penny."""
    result = _get(token, f"/v1/finance/periods/{period}/reconciliation")
    show(result, output, _balance)
    if not result["balanced"]:
        raise typer.Exit(CHECK_FAILED)


@finance.command()
def verify(period: str = typer.Argument(None, help="a month, e.g. 2026-10; all issued statements without it"),
           token: str = TokenOption) -> None:
    """Check issued statements with the published key: each one's signature and content, and each
    tenant's chain (a statement removed or replaced breaks it); exits 1 if one does not hold."""
    client = api(token)
    keys = signing.public_keys(_get(token, "/v1/finance/statement-keys"))
    listed = _get(token, "/v1/finance/statements")
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
        raise typer.Exit(CHECK_FAILED)


def _content_problem(client, listed: dict) -> str | None:
    """Whether the statement served is the one signed: the SHA-256 of its JSON, read as it streams."""
    digest = hashlib.sha256()
    with client.http.stream("GET", f"/v1/finance/statements/{listed['number']}",
                            headers={"Authorization": f"Bearer {client.token}"}) as response:
        if response.status_code != 200:
            response.read()
            return f"the ledger refuses to serve it ({ApiFailure.of(response)})"
        for chunk in response.iter_bytes():
            digest.update(chunk)
    if listed["signature"] is not None and digest.hexdigest() != listed["body_sha256"]:
        return "its content is not what was signed"
    return None
