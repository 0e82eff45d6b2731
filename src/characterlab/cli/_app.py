"""The root Typer app: global options, error handling, and the command groups."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Annotated

import typer
from rich.markup import escape

from characterlab import __version__
from characterlab.cli._console import err_console
from characterlab.cli.character import character_app
from characterlab.cli.demo import demo
from characterlab.cli.models import models_app
from characterlab.cli.probes import probes_app
from characterlab.cli.report import report
from characterlab.cli.run import run
from characterlab.cli.serve import serve
from characterlab.cli.talk import talk
from characterlab.cli.train import train
from characterlab.cli.vectors import vectors_app
from characterlab.errors import CharacterlabError

__all__ = ["app", "main"]

app = typer.Typer(
    name="characterlab",
    help="A laboratory for the characters that language models play.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(character_app, name="character")
app.add_typer(models_app, name="models")
app.add_typer(vectors_app, name="vectors")
app.add_typer(probes_app, name="probes")
app.command()(demo)
app.command()(talk)
app.command()(report)
app.command()(serve)
app.command()(train)
# Study options pass through as --name value, so the command accepts options it does not declare itself.
app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(run)

_state = {"debug": False}


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"characterlab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of errors in your input.")] = False,
) -> None:
    """characterlab: write a character, put it on a model, measure it, change it, share it."""
    _state["debug"] = debug


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line and exit with its status.

    A mistake in the user's input prints a one-line-per-problem message and exits with status 1, never with a
    traceback (unless ``--debug`` is given); usage errors exit with status 2.

    Args:
        argv: Arguments after the program name; ``None`` reads ``sys.argv``.
    """
    # A command line prints its own progress; transformers' per-tensor bars would bury the replies.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        app(args=list(argv) if argv is not None else None, prog_name="characterlab")
    except CharacterlabError as error:
        if _state["debug"]:
            raise
        err_console.print(f"[bold red]error:[/] {escape(str(error))}", soft_wrap=True)
        sys.exit(1)
