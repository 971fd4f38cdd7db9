"""The `hps` command."""

import typer

from services.cli import docs, platform

app = typer.Typer(help="HPS Back Office: the shared back office of Herefordshire Public Services.",
                  no_args_is_help=True)
app.add_typer(platform.kafka, name="kafka")
app.command()(platform.up)
app.add_typer(docs.docs, name="docs")

if __name__ == "__main__":
    app()
