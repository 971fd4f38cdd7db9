"""`hps ops …`: the event streams from a terminal (role ops)."""

import json
from datetime import datetime

import typer

from services.cli.client import ApiFailure, TokenOption, api
from services.cli.output import Output, OutputOption, show

ops = typer.Typer(help="Watch the event streams: live tail, consumer lag, dead letters.", no_args_is_help=True)


def _event_line(e: dict) -> None:
    at = datetime.fromtimestamp(e["at"]).strftime("%H:%M:%S")
    typer.echo(f"{at}  {e['topic']:<22} {e['tenant']:<9} {e['service']:<12} {e['type']:<45} {e['subject'] or ''}")


@ops.command()
def tail(tenant: str = typer.Option(None), service: str = typer.Option(None),
         type: str = typer.Option(None, "--type", help="event type contains this"),
         follow: bool = typer.Option(True, help="keep printing as events come"), output: Output = OutputOption,
         token: str = TokenOption) -> None:
    """Print each event the platform carries, as it is carried (in JSON, one line each); Ctrl-C to stop."""
    client = api(token)
    params = {k: v for k, v in {"tenant": tenant, "service": service, "type": type}.items() if v}
    params["follow"] = str(follow).lower()
    try:
        with client.http.stream("GET", "/v1/ops/tail", params=params, timeout=None,
                                headers={"Authorization": f"Bearer {client.token}"}) as response:
            if response.status_code >= 400:
                response.read()
                raise ApiFailure.of(response)
            for line in response.iter_lines():
                if line.startswith("data: "):
                    show(json.loads(line[6:]), output, _event_line)
    except KeyboardInterrupt:
        pass


def _lag_lines(groups: list[dict], partitions: bool) -> None:
    typer.echo(f"{'group':<24} {'lag':>8} {'oldest':>10}  status")
    for g in groups:
        typer.echo(f"{g['group']:<24} {g['lag']:>8} {g['oldest_unprocessed_age_s'] or 0:>9.1f}s  {g['status']}")
        for p in g["partitions"] if partitions else ():
            typer.echo(f"  {p['topic']}[{p['partition']}]".ljust(25) + f"{p['lag']:>8} "
                       f"{p['oldest_unprocessed_age_s'] or 0:>9.1f}s  {p['status']}")


@ops.command()
def lag(partitions: bool = typer.Option(False, help="one line per partition"), output: Output = OutputOption,
        token: str = TokenOption) -> None:
    """Consumer lag per group, in messages and in time, with its status over the last readings."""
    show(api(token).call("GET", "/v1/ops/lag"), output, lambda groups: _lag_lines(groups, partitions))


def _letter_lines(listing: dict) -> None:
    for d in listing["dead_letters"]:
        at = datetime.fromtimestamp(d["at"]).strftime("%Y-%m-%d %H:%M:%S")
        source = f"{d['source_topic']}[{d['source_partition']}]@{d['source_offset']}"
        typer.echo(f"{d['id']:<10} {at}  {source:<28} {d['tenant']:<9} {'(replayed) ' if d['replayed'] else ''}"
                   f"{d['reason']}")


def _replayed(done: dict) -> None:
    typer.echo(f"replayed {done['dead_letter_id']} onto {done['source_topic']} as {done['replayed_by']}")


@ops.command("dead-letters")
def dead_letters(replay: str = typer.Option(None, help="put this dead letter back on its original topic"),
                 output: Output = OutputOption, token: str = TokenOption) -> None:
    """Dead letters with their reasons; --replay ID re-publishes one (once) and records who did."""
    client = api(token)
    if replay:
        show(client.call("POST", f"/v1/ops/dead-letters/{replay}/replay"), output, _replayed)
    else:
        show(client.call("GET", "/v1/ops/dead-letters"), output, _letter_lines)
