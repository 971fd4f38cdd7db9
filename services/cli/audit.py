"""`hps audit`: the audit trail, newest first (finance and ops: everyone's; a partner: its own)."""

import typer

from services.cli.client import TokenOption, api
from services.cli.output import Output, OutputOption, show_page


def _entry_lines(entries: list[dict]) -> None:
    for e in entries:
        typer.echo(f"{e['at'][:19]}  {e['outcome']:<8} {e['status']}  {e['actor'][:24]:<24} {e['tenant'] or '-':<9} "
                   f"{e['source'] or '-':<15} {e['action']}  {e['subject'] or ''}  {e['reason'] or ''}".rstrip())


def audit(tenant: str = typer.Option(None), actor: str = typer.Option(None),
          action: str = typer.Option(None, help="from its start, e.g. 'POST /v1/finance'"),
          outcome: str = typer.Option(None, help="accepted, refused or failed"),
          since: str = typer.Option(None, help="ISO time with its offset, e.g. 2026-11-01T00:00:00Z"),
          until: str = typer.Option(None), limit: int = typer.Option(50, min=1, max=500),
          cursor: str = typer.Option(None, help="start at this page (the `more:` line names the next)"),
          all_pages: bool = typer.Option(False, "--all", help="every page, not only the newest"),
          output: Output = OutputOption, token: str = TokenOption) -> None:
    """Who did what, for which tenant, from where, and how it ended."""
    params = {k: v for k, v in {"tenant": tenant, "actor": actor, "action": action, "outcome": outcome,
                                "since": since, "until": until, "limit": limit, "cursor": cursor}.items() if v}
    show_page(api(token).page("/v1/audit", params, all_pages), output, _entry_lines, "hps audit", params)
