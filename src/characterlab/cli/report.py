"""``characterlab report RUN...``: one self-contained HTML page for study runs, with their comparisons.

RUN is an Inspect log (``.eval`` or ``.json``) or a folder searched for logs. Runs of the same study are compared
with each other, paired on sample ids; a run stopped part-way and its resumption count each sample once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from characterlab.cli._console import console
from characterlab.errors import CharacterlabError

__all__ = ["report"]


def report(
    runs: Annotated[list[Path], typer.Argument(help="Inspect log files or folders of logs.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the HTML page.")] = Path("report.html"),
    title: Annotated[
        str | None, typer.Option("--title", help="The page title (default: named after the studies).")
    ] = None,
    watch: Annotated[
        Path | None,
        typer.Option(help="A vector file: add a drift section projecting the runs' logged reply states on it."),
    ] = None,
) -> None:
    """Write a study report: headline results with n and intervals, figures, tables, settings and comparisons."""
    missing = [path for path in [*runs, *([watch] if watch else [])] if not path.exists()]
    if missing:
        raise CharacterlabError(
            "; ".join(
                f"{path}: no such file or folder (expected an Inspect log or a folder of logs)" for path in missing
            )
        )
    # The report pulls in Inspect, pandas and matplotlib: imported here so that other commands start fast.
    from characterlab.report import write_study_report

    written = write_study_report(runs, out, title=title, watch=watch)
    console.print(f"report written: [bold]{escape(str(written.resolve()))}[/]", soft_wrap=True)
