"""What a command prints: `--output table` for people (the default) or `--output json` for programs,
and, under a table, the command that reads the next page of a listing."""

import json
import shlex
from collections.abc import Callable
from enum import Enum
from typing import Any

import typer


class Output(str, Enum):
    table = "table"
    json = "json"


OutputOption = typer.Option(Output.table, "--output", "-o",
                            help="table: for people; json: the API's answer as it is, one document on one line")


def show(data: Any, output: Output, table: Callable[[Any], None]) -> None:
    """`data` as the API answered it, or laid out by `table`."""
    if output is Output.json:
        typer.echo(json.dumps(data))
    else:
        table(data)


def pretty(document: Any) -> None:
    """The table of a document that has no columns: a request, a command's outcome."""
    typer.echo(json.dumps(document, indent=2))


def show_page(page: dict, output: Output, rows: Callable[[list], None], command: str, params: dict) -> None:
    """A page of a listing. Under a table, on stderr, the command for the next page, same filters;
    JSON carries its `next_cursor` itself."""
    show(page, output, lambda p: rows(p["items"]))
    if output is Output.table and page["next_cursor"]:
        typer.echo(f"more: {command} {flags({**params, 'cursor': page['next_cursor']})}", err=True)


def flags(options: dict) -> str:
    """`options` as command-line flags, quoted for a shell."""
    return " ".join(f"--{name.replace('_', '-')} {shlex.quote(str(value))}"
                    for name, value in options.items() if value is not None)
