"""A steering sweep as a table and a self-contained page: the trait's curve beside the capability curves."""

from __future__ import annotations

import html
from collections.abc import Sequence

import pandas as pd

from characterlab.analysis import turn_curve_plot
from characterlab.interp._sweep import SweepPoint
from characterlab.interp._vector_file import Vectors

__all__ = ["sweep_page", "sweep_table"]


def sweep_table(points: Sequence[SweepPoint]) -> pd.DataFrame:
    """One row per (layer, coefficient): trait mean [interval] n, neutral log-prob, accuracy [interval] n."""
    return pd.DataFrame(
        [
            {
                "layer": point.layer,
                "alpha": point.alpha,
                "trait": point.trait.mean,
                "trait_low": point.trait.low,
                "trait_high": point.trait.high,
                "trait_n": point.trait.n,
                "trait_missing": point.trait.n_missing,
                "neutral_logprob": point.neutral_logprob,
                "neutral_n": point.neutral_n,
                "accuracy": point.accuracy.mean,
                "accuracy_low": point.accuracy.low,
                "accuracy_high": point.accuracy.high,
                "accuracy_n": point.accuracy.n,
            }
            for point in points
        ]
    )


def sweep_page(points: Sequence[SweepPoint], vectors: Vectors, *, scorer: str) -> str:
    """A self-contained HTML page of a sweep: three figures (trait, accuracy, neutral text) and the table.

    Args:
        points: The sweep.
        vectors: The directions swept along (their provenance heads the page).
        scorer: How the trait was scored, in words.
    """
    table = sweep_table(points)
    by_layer = {
        layer: table[table["layer"] == layer].sort_values("alpha") for layer in sorted({p.layer for p in points})
    }

    def curves(column: str, low: str | None, high: str | None, n: str | None) -> dict[str, pd.DataFrame]:
        return {
            f"layer {layer}": pd.DataFrame(
                {
                    "turn": rows["alpha"],
                    "mean": rows[column],
                    "low": rows[low] if low else float("nan"),
                    "high": rows[high] if high else float("nan"),
                    "n": rows[n] if n else 1,
                }
            )
            for layer, rows in by_layer.items()
        }

    figures = [
        turn_curve_plot(
            curves("trait", "trait_low", "trait_high", "trait_n"),
            title="Trait score against the steering coefficient (mean, 95% bootstrap interval)",
            xlabel="steering coefficient",
            ylabel="trait score",
        ),
        turn_curve_plot(
            curves("accuracy", "accuracy_low", "accuracy_high", "accuracy_n"),
            title="Capability: accuracy on general-knowledge questions",
            xlabel="steering coefficient",
            ylabel="accuracy",
            ylim=(0.0, 1.0),
        ),
        turn_curve_plot(
            curves("neutral_logprob", None, None, "neutral_n"),
            title="Capability: log-probability per token of neutral text",
            xlabel="steering coefficient",
            ylabel="mean log-prob per token",
        ),
    ]
    provenance = vectors.provenance
    described = ", ".join(
        f"{name}: {value}"
        for name, value in provenance.model_dump(by_alias=True).items()
        if value is not None and name != "schema"
    )
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(cell)}</td>"
            for cell in (
                str(row.layer),
                f"{row.alpha:g}",
                f"{row.trait:.3g} [{row.trait_low:.3g}, {row.trait_high:.3g}] n={row.trait_n}",
                f"{row.neutral_logprob:.3f}",
                f"{row.accuracy:.2f} [{row.accuracy_low:.2f}, {row.accuracy_high:.2f}] n={row.accuracy_n}",
            )
        )
        + "</tr>"
        for row in table.itertuples()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="generator" content="characterlab">
<title>Steering sweep · {html.escape(provenance.trait or provenance.kind)}</title>
<style>
body {{ font-family: system-ui, sans-serif; color: #1f2328; max-width: 980px; margin: 2rem auto; padding: 0 1rem; }}
svg.figure {{ width: 100%; height: auto; margin: 1rem 0; }}
table {{ border-collapse: collapse; width: 100%; font-size: .9rem; }}
td, th {{ border-bottom: 1px solid #e3e7ec; padding: .35rem .5rem; text-align: left; }}
.muted {{ color: #59636e; }}
</style></head><body>
<h1>Steering sweep</h1>
<p class="muted">{html.escape(described)}. Trait scored by {html.escape(scorer)}. A trait score that rises while
accuracy and the neutral text's likelihood fall is over-steering.</p>
{"".join(figures)}
<table><thead><tr><th>layer</th><th>coefficient</th><th>trait [95% CI] n</th><th>neutral log-prob/token</th>
<th>accuracy [95% CI] n</th></tr></thead><tbody>{rows}</tbody></table>
</body></html>
"""
