"""`hps audit`: the audit trail, newest first (finance and ops: everyone's; a partner: its own)."""

import typer

from services.cli.client import ApiFailure, TokenOption, api, fail


def audit(tenant: str = typer.Option(None), actor: str = typer.Option(None),
          action: str = typer.Option(None, help="from its start, e.g. 'POST /v1/finance'"),
          outcome: str = typer.Option(None, help="accepted, refused or failed"),
          since: str = typer.Option(None, help="ISO time with its offset, e.g. 2026-11-01T00:00:00Z"),
          until: str = typer.Option(None), limit: int = typer.Option(50, min=1, max=500),
          all_pages: bool = typer.Option(False, "--all", help="every page, not only the newest"),
          token: str = TokenOption) -> None:
    """Who did what, for which tenant, from where, and how it ended."""
    params = {k: v for k, v in {"tenant": tenant, "actor": actor, "action": action, "outcome": outcome,
                                "since": since, "until": until, "limit": str(limit)}.items() if v}
    client = api(token)
    while True:
        try:
            page = client.call("GET", "/v1/audit", params=params)
        except ApiFailure as exc:
            raise fail(exc)
        for e in page["items"]:
            typer.echo(f"{e['at'][:19]}  {e['outcome']:<8} {e['status']}  {e['actor'][:24]:<24} {e['tenant'] or '-':<9} "
                       f"{e['source'] or '-':<15} {e['action']}  {e['subject'] or ''}  {e['reason'] or ''}".rstrip())
        if not page["next_cursor"]:
            return
        if not all_pages:
            typer.echo("more: --all, or narrow with --since/--until/--tenant/--actor", err=True)
            return
        params["cursor"] = page["next_cursor"]
