"""The `hps` command."""

import typer

from services.cli import audit, docs, finance, migrate, ops, platform, requests, simulate

app = typer.Typer(help="HPS Back Office: the shared back office of Herefordshire Public Services.",
                  no_args_is_help=True)
app.add_typer(platform.kafka, name="kafka")
app.command()(platform.up)
app.command()(migrate.migrate)
app.add_typer(docs.docs, name="docs")
app.command()(requests.submit)
app.add_typer(requests.requests, name="requests")
app.add_typer(requests.payroll, name="payroll")
app.command()(simulate.simulate)
app.add_typer(finance.finance, name="finance")
app.add_typer(ops.ops, name="ops")
app.command()(audit.audit)

if __name__ == "__main__":
    app()
