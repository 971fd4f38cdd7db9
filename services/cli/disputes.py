"""`hps disputes`: a partner disputes a line of its issued statement; finance accepts it (a credit
note on the next statement) or rejects it, with a reason; both sides list and read them."""

from decimal import Decimal

import typer

from services.cli.client import TokenOption, api
from services.cli.finance import WaitOption, send
from services.cli.output import Output, OutputOption, pretty, show

disputes = typer.Typer(help="Disputed statement lines and finance's answers (partners raise, finance answers).",
                       no_args_is_help=True)


def _rows(found: list[dict]) -> None:
    for d in found:
        answer = d["answer"] or {}
        credit = f"credit £{answer['credit']} on {answer['credited_on']}" if answer.get("credit") else ""
        typer.echo(f"{d['dispute_id']}  {d['status']:<8} {d['tenant']:<10} {d['statement_number']}  "
                   f"£{d['amount']:>10}  {d['description'][:40]}  {credit}")


@disputes.command("raise")
def raise_(statement_number: str, line_id: str = typer.Argument(..., help="the line's charge_id or cost_id"),
           reason: str = typer.Option(...), wait: float = WaitOption, output: Output = OutputOption,
           token: str = TokenOption) -> None:
    """Dispute a line of one of your issued statements, saying why."""
    send(token, "/v1/finance/disputes", {"statement_number": statement_number, "line_id": line_id, "reason": reason},
         wait, output)


@disputes.command("list")
def list_(status: str = typer.Option(None, help="open, accepted or rejected"), period: str = typer.Option(None),
          tenant: str = typer.Option(None), output: Output = OutputOption, token: str = TokenOption) -> None:
    """Disputes, newest first (partners see their own)."""
    params = {name: value for name, value in (("status", status), ("period", period), ("tenant", tenant)) if value}
    show(api(token).call("GET", "/v1/finance/disputes", params=params), output, _rows)


@disputes.command("show")
def show_one(dispute_id: str, output: Output = OutputOption, token: str = TokenOption) -> None:
    """One dispute and its answer."""
    show(api(token).call("GET", f"/v1/finance/disputes/{dispute_id}"), output, pretty)


@disputes.command()
def accept(dispute_id: str, reason: str = typer.Option(...),
           credit: Decimal = typer.Option(None, help="the credit note's amount (default: the whole line)"),
           wait: float = WaitOption, output: Output = OutputOption, token: str = TokenOption) -> None:
    """Accept a dispute: a credit note on the partner's next open statement."""
    body = {"reason": reason, **({"credit": str(credit)} if credit is not None else {})}
    send(token, f"/v1/finance/disputes/{dispute_id}/accept", body, wait, output)


@disputes.command()
def reject(dispute_id: str, reason: str = typer.Option(...), wait: float = WaitOption, output: Output = OutputOption,
           token: str = TokenOption) -> None:
    """Reject a dispute, saying why; the statement stands."""
    send(token, f"/v1/finance/disputes/{dispute_id}/reject", {"reason": reason}, wait, output)
