"""Commands the platform decides after answering: `--wait` for the decision, and the exit by it
(applied 0, refused 4, still pending 0 with where to read it later)."""

import typer

from services.cli.client import REFUSED, api

MAX_WAIT_S = 30  # the APIs wait no longer (shared/api/outcomes.py)


def wait_option(default_s: float):
    return typer.Option(default_s, "--wait", min=0, max=MAX_WAIT_S,
                        help="seconds to wait for the decision (0: print the 202 and return)")


def ask(token: str | None, method: str, path: str, wait_s: float, **kw) -> dict:
    """Send a command, or read its outcome, waiting up to `wait_s` for the decision; a refusal
    decided while waiting is raised as an ApiFailure."""
    client = api(token)
    params = {"wait": f"{wait_s:.3f}"} if wait_s > 0 else None
    # The answer may take wait_s before it starts: the client's own timeout comes on top.
    return client.call(method, path, params=params, timeout=client.timeout_s + wait_s, **kw)


def exit_by(outcomes: list[dict], wait_s: float) -> None:
    """Once the outcomes are printed: say where each pending one will be, and exit 4 if one was refused."""
    waited = f" after {wait_s:g}s" if wait_s else ""
    for o in outcomes:
        if o["state"] == "pending":
            typer.echo(f"pending{waited}: its outcome will be at {o['location']}", err=True)
        elif o["state"] == "refused":
            error = o.get("error") or {}
            typer.echo(f"error: refused: {error.get('code', '')}: {error.get('message', '')}", err=True)
    if any(o["state"] == "refused" for o in outcomes):
        raise typer.Exit(REFUSED)
