"""Figures for study reports: forest plots, distributions, survival and per-turn curves, as inline SVG or PNG.

Figures are drawn on matplotlib ``Figure`` objects directly (never ``pyplot``), so nothing opens a window, no
global figure state leaks between calls, and the Agg/SVG canvases need no display. Every figure puts n beside
what it shows: a number without its n is not shown.
"""

from __future__ import annotations

import base64
import io
import math
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.typing import RcKeyType

from characterlab.analysis._statistics import SurvivalCurve

__all__ = ["PALETTE", "FigureFormat", "distribution_plot", "forest_plot", "survival_plot", "turn_curve_plot"]

FigureFormat = Literal["svg", "png"]
"""``svg``: an ``<svg>`` element to inline in HTML; ``png``: a ``data:image/png;base64,…`` URI."""

PALETTE = ("#3b5bdb", "#e8590c", "#2f9e44", "#ae3ec9", "#1098ad", "#f08c00", "#c2255c", "#5c940d")
"""Soft, distinguishable series colours (first: the character / run A, second: the baseline / run B)."""

_INK, _MUTED, _GRID, _REFERENCE = "#1f2328", "#8c959f", "#e6e9ed", "#c92a2a"
_STYLE: dict[RcKeyType, Any] = {
    # Text is measured with DejaVu Sans (always there, matplotlib ships it) and drawn by the browser with the same
    # family first, so labels fit where the layout put them.
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "text.parse_math": False,  # labels are data ("$5 bets"), never TeX
    "font.size": 9.5,
    "axes.edgecolor": _MUTED,
    "axes.labelcolor": _INK,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "xtick.color": _MUTED,
    "ytick.color": _INK,
    "svg.fonttype": "none",  # text stays text: small, selectable, drawn in the page's own font
    "svg.hashsalt": None,
}
_DPI = 144
_RDF = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)


def forest_plot(
    summary: pd.DataFrame,
    *,
    label: str = "group",
    series: str | None = None,
    estimate: str = "mean",
    low: str = "low",
    high: str = "high",
    n: str = "n",
    reference: float | None = None,
    references: Mapping[str, float] | None = None,
    reference_label: str = "",
    muted: Collection[str] = (),
    title: str = "",
    xlabel: str = "",
    xlim: tuple[float, float] | None = None,
    value_format: str = "{:.2f}",
    axis_format: str | None = None,
    format: FigureFormat = "svg",
) -> str:
    """A forest plot: one row per label, each estimate a point with its interval and its n written beside it.

    Args:
        summary: One row per (label, series) with the estimate, its interval and n (e.g. from ``summarize``, or
            ``compare_conditions`` with ``estimate="difference", n="n_pairs"``).
        label: Column naming each row of the plot.
        series: Column naming the series drawn side by side on each row (two conditions, two runs); ``None``
            for one series.
        estimate: Column of the point estimate.
        low: Column of the interval's lower end.
        high: Column of the interval's upper end.
        n: Column of the number of values (or pairs) behind each estimate.
        reference: A vertical reference line across the plot (e.g. 0 for differences).
        references: A reference mark per label (e.g. a trait's target strength), drawn as a short red tick.
        reference_label: What the reference line or marks stand for, for the legend.
        muted: Labels to draw in grey with a "(not reliable)" note, for numbers that are not findings.
        title: The figure's title.
        xlabel: The x axis label.
        xlim: Fixed x limits (e.g. (0, 100) for a judge scale); by default fitted to the data.
        value_format: How estimates are written in the right-hand column.
        axis_format: How the x ticks are written (e.g. ``"{:.0%}"`` for proportions); default: matplotlib's.
        format: ``svg`` or ``png``.
    """
    labels = list(dict.fromkeys(summary[label].astype(str))) if not summary.empty else []
    names = list(dict.fromkeys(summary[series].astype(str))) if series is not None and not summary.empty else [""]
    shown_labels = [f"{name}  (not reliable)" if name in muted else name for name in labels]
    offsets = _offsets(len(names))
    points = []  # (y, mean, low, high, colour, text, text colour) per estimate
    for index, name in enumerate(names):
        rows_of_series = summary if series is None else summary[summary[series].astype(str) == name]
        for record in rows_of_series.to_dict("records"):
            y = labels.index(str(record[label])) + offsets[index]
            mean, lo, hi = (_float(record[estimate]), _float(record[low]), _float(record[high]))
            grey = str(record[label]) in muted
            colour = _MUTED if grey else PALETTE[index % len(PALETTE)]
            text_colour = colour if series is not None else (_MUTED if grey else _INK)
            points.append((y, mean, lo, hi, colour, _value_text(mean, lo, hi, record[n], value_format), text_colour))
    handles_wanted = series is not None or bool(reference_label and (references or reference is not None))
    with mpl.rc_context(_STYLE):
        figure, axes = _frame(
            rows=max(1, len(labels)),
            row_height=0.26 + 0.2 * len(names),
            left_text=shown_labels,
            right_chars=max((len(point[5]) for point in points), default=10),
            title=bool(title),
            legend=handles_wanted,
        )
        for y, mean, lo, hi, colour, _, _ in points:
            if not math.isnan(lo) and not math.isnan(hi):
                axes.hlines(y, lo, hi, color=colour, linewidth=2.2, alpha=0.85)
            if not math.isnan(mean):
                axes.plot(mean, y, "o", color=colour, markersize=6.5, markeredgecolor="white", zorder=3)
        texts = [(y, text, text_colour) for y, _, _, _, _, text, text_colour in points]
        for y, text, colour in texts:
            beside = (1.02, y)
            axes.annotate(text, xy=beside, xycoords=("axes fraction", "data"), va="center", fontsize=8.5, color=colour)
        if references:
            for name, value in references.items():
                if name in labels and not math.isnan(value):
                    where = labels.index(name)
                    axes.plot([value, value], [where - 0.42, where + 0.42], color=_REFERENCE, linewidth=1.8, zorder=2)
        if reference is not None:
            axes.axvline(reference, color=_REFERENCE, linewidth=1, linestyle="--", zorder=1)
        axes.set_yticks(range(len(labels)), shown_labels)
        for tick, name in zip(axes.get_yticklabels(), labels, strict=True):
            if name in muted:
                tick.set_color(_MUTED)
        axes.set_ylim(max(1, len(labels)) - 0.5, -0.5)
        if xlim is not None:
            pad = (xlim[1] - xlim[0]) * 0.02
            axes.set_xlim(xlim[0] - pad, xlim[1] + pad)
        axes.grid(axis="x", color=_GRID, linewidth=0.8)
        axes.set_axisbelow(True)
        if axis_format is not None:
            axes.xaxis.set_major_formatter(mpl.ticker.FuncFormatter(lambda value, _: axis_format.format(value)))
        axes.set_xlabel(xlabel)
        _title(figure, title)
        handles = []
        if series is not None:
            handles += [
                axes.plot([], [], "o", color=PALETTE[i % len(PALETTE)], label=name)[0] for i, name in enumerate(names)
            ]
        if reference_label and (references or reference is not None):
            style = "-" if references else "--"
            handles.append(axes.plot([], [], style, color=_REFERENCE, label=reference_label)[0])
        if handles:
            axes.legend(
                handles=handles,
                loc="lower left",
                bbox_to_anchor=(0, 1.01),
                ncols=4,
                frameon=False,
                fontsize=8.5,
                borderaxespad=0.2,
                handletextpad=0.4,
                columnspacing=1.4,
            )
        if not labels:
            _nothing(axes)
        return _export(figure, format)


def distribution_plot(
    table: pd.DataFrame,
    *,
    value: str = "value",
    by: str = "condition",
    title: str = "",
    xlabel: str = "",
    xlim: tuple[float, float] | None = None,
    max_points: int = 400,
    seed: int = 0,
    format: FigureFormat = "svg",
) -> str:
    """The distribution of a measurement per category: a violin with the individual values jittered over it.

    Missing values (NaN) are left out and counted in the labels. Above ``max_points`` values per category a
    random subset is drawn as points (the violin and the counts still use every value).

    Args:
        table: The rows to draw.
        value: The column drawn.
        by: The column whose categories get a violin each (e.g. ``condition``).
        title: The figure's title.
        xlabel: The x axis label.
        xlim: Fixed x limits.
        max_points: Most points drawn per category.
        seed: Seed of the jitter and the subset.
        format: ``svg`` or ``png``.
    """
    rng = np.random.default_rng(seed)
    keys = table[by].astype(object).where(table[by].notna(), "(none)").astype(str) if not table.empty else table[by]
    categories = list(dict.fromkeys(keys)) if not table.empty else []
    with mpl.rc_context(_STYLE):
        tick_labels: list[str] = []
        notes = [str(category) + " " * 16 for category in categories]  # room for "n=1234, 12 missing"
        figure, axes = _frame(
            rows=max(1, len(categories)), row_height=0.7, left_text=notes, right_chars=0, title=bool(title)
        )
        for index, category in enumerate(categories):
            values = table.loc[keys == category, value].to_numpy(dtype=np.float64)
            present = values[~np.isnan(values)]
            missing = values.size - present.size
            colour = PALETTE[index % len(PALETTE)]
            if present.size >= 2 and np.ptp(present) > 0:
                parts = axes.violinplot(
                    present, positions=[index], orientation="horizontal", widths=0.8, showextrema=False
                )
                for body in parts["bodies"]:  # type: ignore[attr-defined]
                    body.set_facecolor(colour)
                    body.set_alpha(0.18)
                    body.set_edgecolor("none")
            shown = present if present.size <= max_points else rng.choice(present, max_points, replace=False)
            jitter = rng.uniform(-0.18, 0.18, size=shown.size)
            axes.scatter(shown, index + jitter, s=9, color=colour, alpha=0.55, linewidths=0)
            if present.size:
                axes.plot(present.mean(), index, "D", color=_INK, markersize=5, zorder=3)
            note = f"n={present.size}" + (f", {missing} missing" if missing else "")
            if present.size > max_points:
                note += f"; {max_points} drawn"
            tick_labels.append(f"{category}\n{note}")
        axes.set_yticks(range(len(categories)), tick_labels)
        axes.set_ylim(max(1, len(categories)) - 0.5, -0.5)
        if xlim is not None:
            axes.set_xlim(*xlim)
        axes.grid(axis="x", color=_GRID, linewidth=0.8)
        axes.set_axisbelow(True)
        axes.set_xlabel(xlabel + ("  (◆ mean)" if categories else ""))
        _title(figure, title)
        if not categories:
            _nothing(axes)
        return _export(figure, format)


def survival_plot(
    curves: Mapping[str, SurvivalCurve],
    *,
    title: str = "",
    xlabel: str = "turn",
    ylabel: str = "fraction still holding",
    format: FigureFormat = "svg",
) -> str:
    """Survival curves: the fraction still holding at each turn, one step curve and band per group.

    Args:
        curves: Group name → its curve (from ``survival_curve``); the legend gives each group's n.
        title: The figure's title.
        xlabel: The x axis label.
        ylabel: The y axis label.
        format: ``svg`` or ``png``.
    """
    with mpl.rc_context(_STYLE):
        legend_chars = max((len(f"{name} (n={curve.n})") for name, curve in curves.items()), default=0) + 5
        figure, axes = _frame(
            rows=1, row_height=2.6, left_text=["100%   "], right_chars=legend_chars, title=bool(title)
        )
        axes.tick_params(axis="y", length=3)
        last = 0
        for index, (name, curve) in enumerate(curves.items()):
            colour = PALETTE[index % len(PALETTE)]
            # Each level holds from its turn to the next; the last one is drawn for half a turn so that it shows.
            turns = np.append(np.asarray(curve.turns, dtype=np.float64), curve.turns[-1] + 0.5)
            fraction = np.append(curve.fraction, curve.fraction[-1])
            axes.step(turns, fraction, where="post", color=colour, linewidth=2, label=f"{name} (n={curve.n})")
            low, high = np.append(curve.low, curve.low[-1]), np.append(curve.high, curve.high[-1])
            if not np.all(np.isnan(low)):
                axes.fill_between(turns, low, high, step="post", color=colour, alpha=0.15, linewidth=0)
            last = max(last, curve.turns[-1])
        axes.set_ylim(-0.02, 1.04)
        axes.set_xlim(0, max(1, last) + 0.5)
        axes.set_xticks(range(last + 1))
        axes.yaxis.set_major_formatter(mpl.ticker.PercentFormatter(1.0))
        axes.grid(color=_GRID, linewidth=0.8)
        axes.set_axisbelow(True)
        axes.set_xlabel(xlabel)
        axes.set_ylabel(ylabel)
        _title(figure, title)
        if curves:
            axes.legend(frameon=False, fontsize=8.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        else:
            _nothing(axes)
        return _export(figure, format)


def turn_curve_plot(
    curves: Mapping[str, pd.DataFrame],
    *,
    title: str = "",
    xlabel: str = "turn",
    ylabel: str = "",
    ylim: tuple[float, float] | None = None,
    format: FigureFormat = "svg",
) -> str:
    """Curves over turns (or rounds): a mean per turn with its interval as a band, one line per series.

    Args:
        curves: Series name → one row per turn with columns ``turn``, ``mean``, ``low``, ``high`` and ``n`` (e.g.
            a ``bootstrap_mean`` per turn index across conversations); the legend gives each series' n, as a
            range when conversations drop out along the way. A NaN interval draws no band there.
        title: The figure's title.
        xlabel: The x axis label.
        ylabel: The y axis label.
        ylim: Fixed y limits; by default fitted to the data.
        format: ``svg`` or ``png``.
    """
    labels = {name: f"{name} ({_n_range(curve)})" for name, curve in curves.items()}
    with mpl.rc_context(_STYLE):
        legend_chars = max((len(label) for label in labels.values()), default=0) + 5
        figure, axes = _frame(
            rows=1, row_height=2.6, left_text=["0.000   "], right_chars=legend_chars, title=bool(title)
        )
        axes.tick_params(axis="y", length=3)
        turns_seen: list[float] = []
        for index, (name, curve) in enumerate(curves.items()):
            if curve.empty:
                continue
            colour = PALETTE[index % len(PALETTE)]
            ordered = curve.sort_values("turn")
            turns = ordered["turn"].to_numpy(dtype=np.float64)
            mean = ordered["mean"].to_numpy(dtype=np.float64)
            low, high = ordered["low"].to_numpy(dtype=np.float64), ordered["high"].to_numpy(dtype=np.float64)
            axes.plot(turns, mean, "o-", color=colour, linewidth=2, markersize=3.5, label=labels[name])
            if not np.all(np.isnan(low)):
                axes.fill_between(turns, low, high, color=colour, alpha=0.15, linewidth=0)
            turns_seen.extend(turns.tolist())
        if turns_seen:
            first, last = int(min(turns_seen)), int(max(turns_seen))
            axes.set_xlim(first - 0.3, last + 0.3)
            step = max(1, math.ceil((last - first + 1) / 20))  # at most ~20 ticks, whatever the length
            axes.set_xticks(range(first, last + 1, step))
        if ylim is not None:
            axes.set_ylim(*ylim)
        axes.grid(color=_GRID, linewidth=0.8)
        axes.set_axisbelow(True)
        axes.set_xlabel(xlabel)
        axes.set_ylabel(ylabel)
        _title(figure, title)
        if turns_seen:
            axes.legend(frameon=False, fontsize=8.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        else:
            _nothing(axes)
        return _export(figure, format)


def _n_range(curve: pd.DataFrame) -> str:
    """``n=12`` or, when the count changes along the curve, ``n=12–40``."""
    counts = curve["n"].to_numpy(dtype=np.int64) if not curve.empty else np.zeros(0, dtype=np.int64)
    if counts.size == 0:
        return "n=0"
    low, high = int(counts.min()), int(counts.max())
    return f"n={high}" if low == high else f"n={low}–{high}"


_WIDTH = 8.2  # inches; the page scales the SVG to its column
_CHAR = 0.072  # inches per character of 9.5 pt DejaVu Sans, on average (measured on labels)
_SMALL_CHAR = 0.066  # the same at 8.5 pt


def _frame(
    *, rows: int, row_height: float, left_text: Sequence[str], right_chars: int, title: bool, legend: bool = False
) -> tuple[Figure, Axes]:
    """A figure whose margins are measured from its text rather than found by a layout engine (twice as fast).

    Args:
        rows: Rows of the plot.
        row_height: Inches per row.
        left_text: The y tick labels (their longest line sets the left margin).
        right_chars: Characters of text written right of the axes.
        title: Whether a title goes above.
        legend: Whether a one-line legend goes between the title and the axes.
    """
    longest = max((len(line) for text in left_text for line in text.split("\n")), default=4)
    left = min(3.4, 0.3 + _CHAR * longest)
    right = 0.25 + _SMALL_CHAR * right_chars
    top = 0.12 + (0.3 if title else 0.0) + (0.27 if legend else 0.0)
    bottom = 0.55
    height = top + bottom + rows * row_height
    figure = Figure(figsize=(_WIDTH, height))
    figure.subplots_adjust(left=left / _WIDTH, right=1 - right / _WIDTH, top=1 - top / height, bottom=bottom / height)
    axes = figure.add_subplot()
    _clean(axes)
    return figure, axes


def _title(figure: Figure, title: str) -> None:
    """The title at the top left of the figure, above any legend."""
    if title:
        left = 0.1 / figure.get_figwidth()
        figure.text(left, 1 - 0.1 / figure.get_figheight(), title, ha="left", va="top", fontsize=11, weight="bold")


def _clean(axes: Axes) -> None:
    for side in ("top", "right", "left"):
        axes.spines[side].set_visible(False)
    axes.tick_params(axis="y", length=0)


def _nothing(axes: Axes) -> None:
    axes.text(0.5, 0.5, "no values", transform=axes.transAxes, ha="center", va="center", color=_MUTED)


def _offsets(count: int) -> Sequence[float]:
    if count <= 1:
        return [0.0]
    spread = min(0.5, 0.18 * (count - 1))
    return list(np.linspace(-spread / 2, spread / 2, count))


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _value_text(mean: float, low: float, high: float, n: object, value_format: str) -> str:
    if math.isnan(mean):
        return f"no values (n={n})"
    interval = (
        f" [{value_format.format(low)}, {value_format.format(high)}]"
        if not (math.isnan(low) or math.isnan(high))
        else " [interval n/a]"
    )
    return f"{value_format.format(mean)}{interval}  n={n}"


def _export(figure: Figure, format: FigureFormat) -> str:
    buffer = io.BytesIO()
    if format == "png":
        figure.savefig(buffer, format="png", dpi=_DPI, facecolor="white")
        return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    figure.savefig(buffer, format="svg", facecolor="none", metadata={"Date": None})
    svg = buffer.getvalue().decode("utf-8")
    svg = svg[svg.index("<svg") :]  # drop the XML declaration and DOCTYPE, invalid inside HTML
    svg = _RDF.sub("", svg, count=1)  # and matplotlib's RDF block: namespaces and a creator, nothing to show
    # The width and height attributes give the browser the aspect ratio; CSS (``svg.figure``) sets the width.
    return svg.replace("<svg ", '<svg class="figure" role="img" ', 1)
