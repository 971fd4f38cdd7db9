"""`hps docs …`: documents generated from the code."""

import typer

from shared import event_docs

docs = typer.Typer(help="Generated documentation.", no_args_is_help=True)


@docs.command()
def events() -> None:
    """Print the topics and event types as markdown (docs/events.md)."""
    typer.echo(event_docs.render(), nl=False)
