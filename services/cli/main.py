"""The `hps` command."""

from importlib.metadata import version

import typer

from services.cli import audit, disputes, docs, finance, migrate, ops, platform, requests, simulate
from services.cli.client import Commands

DISTRIBUTION = "hps-back-office"  # pyproject.toml's [project] name

app = typer.Typer(cls=Commands, no_args_is_help=True)


def _version(asked: bool) -> None:
    if asked:
        typer.echo(f"hps {version(DISTRIBUTION)}")
        raise typer.Exit()


@app.callback()
def main(_: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                help="print the version and exit")) -> None:
    """HPS Back Office: the shared back office of Herefordshire Public Services."""


app.add_typer(platform.kafka, name="kafka")
app.command()(platform.up)
app.command()(migrate.migrate)
app.add_typer(docs.docs, name="docs")
app.command()(requests.submit)
app.add_typer(requests.requests, name="requests")
app.add_typer(requests.payroll, name="payroll")
app.command()(simulate.simulate)
app.add_typer(finance.finance, name="finance")
app.add_typer(disputes.disputes, name="disputes")
app.add_typer(ops.ops, name="ops")
app.command()(audit.audit)

if __name__ == "__main__":
    app()
