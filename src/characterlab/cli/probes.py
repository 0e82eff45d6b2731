"""``characterlab probes``: where in a local model does it become linearly decodable who is speaking?"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from characterlab.cli._console import console
from characterlab.cli._local_model import local_engine
from characterlab.cli.character import load_any
from characterlab.errors import CharacterlabError

# torch, transformers, scikit-learn and characterlab.interp are imported inside the command.

__all__ = ["probes_app"]

probes_app = typer.Typer(help="Linear probes on a local model's activations, swept over layers.", no_args_is_help=True)


@probes_app.command("speakers")
def speakers_command(
    characters: Annotated[list[Path], typer.Argument(help="Character files or cards (one, with --default).")],
    questions: Annotated[Path, typer.Option(help="A text file of questions, one per line (at least two).")],
    model: Annotated[str, typer.Option(help="A local model: default, base or a model folder.")] = "default",
    default: Annotated[
        bool, typer.Option("--default", help="Also answer as the model's default persona (in vs out of character).")
    ] = False,
    max_tokens: Annotated[int, typer.Option(help="Length of each reply.", min=1)] = 48,
    folds: Annotated[int, typer.Option(help="Cross-validation folds, questions held out.", min=2)] = 5,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Also write a page (.html) and a table (.csv).")
    ] = None,
) -> None:
    """Probe every layer for which character is answering, holding questions out, with intervals."""
    import pandas as pd

    from characterlab.analysis import turn_curve_plot
    from characterlab.interp import probe_layers, speaker_activations

    staged = [load_any(path) for path in characters]
    asked = [line.strip() for line in questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(asked) < 2:
        raise CharacterlabError(f"{questions}: the probe holds questions out, so it needs at least two")
    engine = local_engine(model)
    data = speaker_activations(engine, staged, asked, include_default=default, max_new_tokens=max_tokens)
    probes = probe_layers(data.features, data.labels, data.groups, folds=folds)
    table = Table("layer", "AUROC [95% CI]", "shuffled", "n", "questions", title="Who is speaking, by layer")
    for probe in probes:
        table.add_row(
            str(probe.layer),
            f"{probe.auroc:.3f} [{probe.low:.3f}, {probe.high:.3f}]",
            f"{probe.shuffled:.3f}",
            str(probe.n),
            str(probe.groups),
        )
    console.print(table)
    if output is None:
        return
    frame = pd.DataFrame([probe.__dict__ for probe in probes])
    frame.to_csv(output.with_suffix(".csv"), index=False)
    curve = frame.rename(columns={"layer": "turn", "auroc": "mean"})
    control = frame.rename(columns={"layer": "turn", "shuffled": "mean"}).assign(low=float("nan"), high=float("nan"))
    figure = turn_curve_plot(
        {"held-out AUROC": curve, "shuffled labels": control[["turn", "mean", "low", "high", "n"]]},
        title="Who is speaking: held-out AUROC by layer (95% cluster-bootstrap interval)",
        xlabel="layer",
        ylabel="AUROC",
        ylim=(0.0, 1.0),
    )
    speakers = ", ".join(sorted(set(data.labels)))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="generator" content="characterlab">
<title>Probes · who is speaking</title><style>body {{ font-family: system-ui, sans-serif; max-width: 980px;
margin: 2rem auto; padding: 0 1rem; color: #1f2328; }} svg.figure {{ width: 100%; height: auto; }}</style></head>
<body><h1>Who is speaking, by layer</h1><p>Speakers: {html.escape(speakers)}. Model: {html.escape(engine.loaded.name)}.
{len(asked)} questions, held out by question ({folds} folds); logistic regression on the mean state over each
reply's tokens.</p>{figure}</body></html>
""",
        encoding="utf-8",
    )
    console.print(f"→ {escape(str(output))} and {escape(str(output.with_suffix('.csv')))}")
