"""The study report's drift section: each run's replies projected on a direction, per turn and per condition."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from markupsafe import Markup

from characterlab.analysis import bootstrap_mean, drift_curves, drift_table, turn_curve_plot
from characterlab.report._study_views import (
    Cell,
    FigureView,
    Headline,
    RunView,
    SectionView,
    SettingsView,
    TableView,
    format_estimate,
)

__all__ = ["drift_section"]

_MAX_FIGURES = 3  # layers drawn per run; the table lists them all


def drift_section(logs: list[Any], runs: pd.DataFrame, watch: str | Path) -> SectionView:
    """Project the logged reply states of every run on the directions of a vector file.

    Args:
        logs: The logs read (with samples).
        runs: The report's runs table (for each run's study and model).
        watch: A vector file (``characterlab vectors ...``): its directions per layer.
    """
    from characterlab.interp import read_vectors  # imported here: it pulls in torch

    vectors = read_vectors(Path(watch))
    name = Path(watch).name
    directions = {layer: vector.double().numpy() for layer, vector in vectors.by_layer.items()}
    table = drift_table(logs, directions)
    about = (
        f"Each reply of the model under study, projected on the directions of {name} ({vectors.provenance.kind}"
        + (f", {vectors.provenance.trait}" if vectors.provenance.trait else "")
        + f", from {vectors.provenance.model}): the mean hidden state over the reply's tokens, dotted with the unit "
        "direction at its block. Higher means the reply leans further along the direction; over the turns of a "
        "conversation the curve shows drift. A run's replies are here when it ran on a local model with the model "
        "args activation_layers=L and activation_reduction=mean_response."
    )
    run_views = [
        _run_view(index, run, group, runs, name)
        for index, (run, group) in enumerate(table.groupby("run", sort=False), start=1)
    ]
    missing = (
        "none"
        if not table.empty
        else f"every reply: no run logged reply states at the blocks of {name} "
        f"({', '.join(map(str, sorted(directions)))})"
    )
    return SectionView(
        anchor="drift", study="drift", title=f"Drift along {name}", about=about, missing=missing, runs=run_views
    )


def _run_view(index: int, run: Any, table: pd.DataFrame, runs: pd.DataFrame, name: str) -> RunView:
    match = runs[runs["log"] == run]
    row = match.iloc[0] if not match.empty else None
    label = f"{row['study']} · {row['model']}" if row is not None else str(run)
    layers = sorted(int(layer) for layer in table["layer"].unique())
    figures = []
    for layer in layers[:_MAX_FIGURES]:
        curves = drift_curves(table, layer)
        if table["turn"].max() > 1:
            figures.append(
                FigureView(
                    title=f"Projection on {name} by turn, block {layer}",
                    image=Markup(turn_curve_plot(curves, xlabel="turn", ylabel="projection")),
                    caption="Mean projection per turn with a 95% bootstrap interval over samples; n per series "
                    "in the legend.",
                )
            )
    rows = []
    headline_parts = []
    for layer in layers:
        at_layer = table[table["layer"] == layer]
        for series, group in at_layer.groupby("series", sort=False):
            estimate = bootstrap_mean(group["projection"].to_numpy(dtype=float), clusters=group["sample_id"].to_numpy())
            text = format_estimate(estimate.mean, estimate.low, estimate.high, estimate.n, "number")
            first, last = group["turn"].min(), group["turn"].max()
            rows.append([Cell(str(layer)), Cell(str(series)), Cell(text, css="num"), Cell(f"{first}–{last}")])
            if layer == layers[0]:
                headline_parts.append(f"{series} {text}")
    headline = Headline(text=f"Mean projection at block {layers[0]}: " + "; ".join(headline_parts) + ".")
    tables = [
        TableView(
            title="Mean projection per condition",
            columns=["block", "series", "mean [95% CI], n", "turns"],
            rows=rows,
            note="Means over every reply; intervals resample whole samples (cluster bootstrap), since a sample's "
            "turns are not independent.",
        )
    ]
    items = [("vector file", name), ("blocks", ", ".join(map(str, layers)))]
    return RunView(
        anchor=f"drift-{index}",
        label=label,
        headline=headline,
        figures=figures,
        tables=tables,
        settings=SettingsView(items=items, data_files=[], logs=[]),
        missing="",
    )
