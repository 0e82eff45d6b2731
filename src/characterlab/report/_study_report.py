"""The study report: one self-contained HTML page for any set of study runs, with their comparisons.

The page opens from ``file://`` with nothing fetched: figures are inline SVG, styles are inline, there is no
script. Its order is the reader's: a summary first (each study's headline in words, with n and interval, and its
warnings, judge validity first), then one section per study: per-run figures, tables and settings, then a
comparison of its runs when there are several (paired on sample ids). Every figure lists the samples behind it.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path, PurePath
from typing import Any

import pandas as pd
from markupsafe import Markup

from characterlab import __version__
from characterlab.analysis import (
    PAIRED_TEST,
    SCORE_METADATA_COLUMNS,
    LogSource,
    compare_conditions,
    compare_runs,
    distribution_plot,
    forest_plot,
    read_logs,
    runs_table,
    score_metadata_table,
    scores_table,
    summarize,
)
from characterlab.report._environment import report_environment
from characterlab.report._study_presentations import (
    PRESENTATIONS,
    ExtraFigure,
    RunData,
    StudyPresentation,
    presentation_of,
)
from characterlab.report._study_views import (
    Cell,
    FigureView,
    Headline,
    LogView,
    RunView,
    SampleGroup,
    SectionView,
    SettingsView,
    SummaryLine,
    TableView,
    folder_of,
    format_difference,
    format_estimate,
    format_p,
    p_text,
    reading,
)

__all__ = ["build_study_report", "write_study_report"]

_LISTED = 4  # effects named in a one-line headline before "and k more"
_HIGH_MISSING = 0.10  # above this share of missing measurements a run gets a warning
_CHARACTER, _BASELINE = "character", "baseline"
_CONDITION_ORDER = {_CHARACTER: 0, "model": 0, _BASELINE: 1}
_NO_GROUP = "\x00none"
_DIFFERENCE_FORMATS = {
    "proportion": "{:+.0%}",
    "probability": "{:+.3f}",
    "score100": "{:+.1f}",
    "signed": "{:+.3f}",
    "turns": "{:+.1f}",
    "number": "{:+.3g}",
}
_VALUE_FORMATS = {
    "proportion": "{:.0%}",
    "probability": "{:.2f}",
    "score100": "{:.1f}",
    "signed": "{:+.3f}",
    "turns": "{:.1f}",
    "number": "{:.3g}",
}
_METHODS = (
    "Intervals are 95% percentile bootstrap intervals (2,000 resamples); where an item contributes several "
    "samples (conditions, paraphrases, epochs) whole items are resampled (cluster bootstrap). Missing "
    "measurements (NaN, errored samples) are excluded from means and counted. Paired comparisons use a "
    f"{PAIRED_TEST} (exact over all sign patterns up to 16 pairs, else 10,000 random patterns) and Holm's "
    "correction across groups; a difference whose interval includes 0, or whose Holm-adjusted p is 0.05 or more, "
    "is read as no detectable difference."
)


def build_study_report(
    logs: LogSource | Iterable[LogSource], *, title: str | None = None, watch: str | os.PathLike[str] | None = None
) -> str:
    """Build the study report of some runs as one self-contained HTML page.

    Args:
        logs: Inspect log files, folders of logs (searched recursively) or logs already read. Runs of the same
            study are compared with each other, paired on sample ids.
        title: The page title; by default named after the studies.
        watch: A vector file (a trait vector, a character axis): adds a drift section projecting every logged
            reply state on it, per turn and per condition (runs made with ``-M activation_layers=...``).

    Returns:
        The HTML page.

    Raises:
        CharacterlabError: A path is missing or is not a readable Inspect log.
    """
    read = read_logs(logs)
    scores = scores_table(read)
    runs = runs_table(read)
    known = list(PRESENTATIONS)
    studies = sorted(runs["study"].unique(), key=lambda s: (known.index(s) if s in known else len(known), s))
    # Score metadata (transcripts, per-turn tables) is read only for the studies whose presentation shows it.
    detailed = [str(study) for study in studies if presentation_of(str(study)).reads_score_metadata]
    details = (
        score_metadata_table(read, studies=detailed) if detailed else pd.DataFrame(columns=list(SCORE_METADATA_COLUMNS))
    )
    sections = [
        _section(
            str(study),
            scores[scores["study"] == study],
            runs[runs["study"] == study],
            details[details["study"] == study],
        )
        for study in studies
    ]
    if watch is not None:
        from characterlab.report._drift_section import drift_section

        sections.append(drift_section(read, runs, Path(watch)))
    summary = [
        SummaryLine(run.anchor, section.title, run.label, run.headline)
        for section in sections
        for run in [*section.runs, *section.comparisons]
    ]
    warnings = sum(len(line.headline.warnings) for line in summary)
    shown_title = title or "Study report: " + ", ".join(section.title for section in sections)
    template = report_environment().get_template("study_report.html.j2")
    return template.render(
        title=shown_title,
        sections=sections,
        summary=summary,
        warning_count=warnings,
        log_count=len(runs),
        methods=_METHODS,
        version=__version__,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def write_study_report(
    logs: LogSource | Iterable[LogSource],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    watch: str | os.PathLike[str] | None = None,
) -> Path:
    """Build the study report and write it to a file (its folder is created).

    Args:
        logs: Inspect log files, folders of logs or logs already read.
        path: Where to write the page.
        title: The page title.
        watch: A vector file whose directions the replies are projected on (a drift section).

    Returns:
        The path written.
    """
    page = build_study_report(logs, title=title, watch=watch)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


# --- one study -----------------------------------------------------------------------------------------------


def _section(study: str, scores: pd.DataFrame, runs: pd.DataFrame, details: pd.DataFrame) -> SectionView:
    presentation = presentation_of(study)
    order = runs.groupby("run", sort=False)["created"].min().sort_values().index.tolist()
    labels = _run_labels(runs, order)
    anchor = "study-" + _slug(study)
    data = [
        _run_data(
            study, run, labels[run], scores[scores["run"] == run], runs, presentation, details[details["run"] == run]
        )
        for run in order
    ]
    views = [
        _run_view(f"{anchor}-run-{index + 1}", item, presentation, runs[runs["run"] == item.run])
        for index, item in enumerate(data)
    ]
    # Each later run is compared with the earliest run it shares samples with: runs of different characters'
    # traits (or of different items) have nothing to pair, and saying so for every such pair is only noise.
    pairings = [
        (base, other)
        for position, other in enumerate(data[1:], start=1)
        if (base := _pairing_base(other, data[:position])) is not None
    ]
    comparisons = [
        _comparison_view(f"{anchor}-compare-{index + 1}", base, other, presentation)
        for index, (base, other) in enumerate(pairings)
    ]
    return SectionView(
        anchor=anchor,
        study=study,
        title=presentation.title,
        about=presentation.about,
        missing=_missing_text(pd.concat([item.scores for item in data]) if data else scores),
        runs=views,
        comparisons=comparisons,
    )


def _pairing_base(run: RunData, earlier: Sequence[RunData]) -> RunData | None:
    """The earliest of ``earlier`` that measured some of the same samples as ``run``, if any."""
    ids = set(run.scores["sample_id"])
    return next((base for base in earlier if ids & set(base.scores["sample_id"])), None)


def _run_data(
    study: str,
    run: str,
    label: str,
    scores: pd.DataFrame,
    runs: pd.DataFrame,
    presentation: StudyPresentation,
    details: pd.DataFrame,
) -> RunData:
    main = runs[runs["log"] == run]
    metadata = dict(main.iloc[0]["metadata"]) if not main.empty else {}
    validity = _validity(metadata, scores, presentation)
    if presentation.independent_epochs:
        scores = scores.assign(item=scores["item"].astype(str) + "#" + scores["epoch"].astype(str))
    if presentation.validity_condition is not None:
        scores = scores[scores["condition"] != presentation.validity_condition]
        scores = scores[~scores["metric"].isin(list(presentation.validity_metrics))]
    # A censored metric's NaN is "not yet happened": kept out of the means, missing rates and comparisons.
    censored = scores[scores["metric"].isin(presentation.censored_metrics)]
    scores = scores[~scores["metric"].isin(presentation.censored_metrics)]
    scores = _measured(scores, presentation, metadata.get("settings") or {})
    summary = _by_condition(summarize(scores, by=["group", "condition", "metric"]))
    present = set(scores["condition"].dropna())
    conditions = compare_conditions(scores, _CHARACTER, _BASELINE) if {_CHARACTER, _BASELINE} <= present else None
    return RunData(
        run=run,
        label=label,
        study=study,
        scores=scores,
        summary=summary,
        conditions=conditions,
        metadata=metadata,
        validity=validity,
        details=details,
        censored=censored,
    )


def _measured(scores: pd.DataFrame, presentation: StudyPresentation, settings: Mapping[str, Any]) -> pd.DataFrame:
    """The rows of what was measured: a metric never measured in a group (all NaN there) is not "missing".

    A study gives every sample every key, NaN where a measure does not apply (a trait naming no ``regex``, the
    turns past a short script's end, the prefill samples' ``held_t``). Such (group, metric) pairs are dropped,
    except for the study's core metrics, where all-NaN means the measurement failed and is shown as missing
    (unless a setting switched the metric off, e.g. a run without the judge).
    """
    if scores.empty:
        return scores
    off = [
        metric
        for metric, key in presentation.switched_off_by.items()
        if key in settings and settings[key] in (False, None)
    ]
    scores = scores[~scores["metric"].isin(off)]
    keys = [scores["group"].astype(object).where(scores["group"].notna(), _NO_GROUP), scores["metric"]]
    measured = scores["value"].notna().groupby(keys).transform("any")
    return scores[measured | scores["metric"].isin(presentation.core_metrics)]


def _validity(
    metadata: Mapping[str, Any], scores: pd.DataFrame, presentation: StudyPresentation
) -> dict[str, dict[str, Any]]:
    """Judge validity per group: the eval metadata's record, completed by the run's own validity samples."""
    recorded = metadata.get("judge_validity")
    validity = (
        {str(k): dict(v) for k, v in recorded.items() if isinstance(v, Mapping)}
        if isinstance(recorded, Mapping)
        else {}
    )
    if presentation.validity_condition is None:
        return validity
    rows = scores[
        (scores["condition"] == presentation.validity_condition)
        & scores["metric"].isin(list(presentation.validity_metrics))
    ]
    for (group, metric), values in rows.groupby(["group", "metric"], sort=False):
        value = values["value"].mean() if values["value"].notna().any() else math.nan
        key = presentation.validity_metrics[str(metric)]
        record = validity.setdefault(str(group), {})
        record.setdefault(key, bool(value >= 0.5) if key == "reliable" and not math.isnan(value) else value)
    return validity


def _run_view(anchor: str, run: RunData, presentation: StudyPresentation, logs: pd.DataFrame) -> RunView:
    headline = presentation.headline(run, presentation) if presentation.headline else Headline("")
    headline = Headline(
        text=headline.text,
        details=headline.details,
        warnings=[*headline.warnings, *_run_warnings(run, logs)],
        labels=headline.labels,
    )
    figures = _level_figures(run, presentation)
    if run.conditions is not None and not run.conditions.empty:
        figures += _difference_figures(run, presentation)
    if presentation.extra_figures is not None:
        figures += [_figure(extra) for extra in presentation.extra_figures(run, presentation)]
    figures += _distribution_figures(run, presentation)
    tables = [_summary_table(run, presentation)]
    if run.conditions is not None and not run.conditions.empty:
        tables.append(_conditions_table(run, presentation))
    if presentation.extra_tables is not None:
        tables += presentation.extra_tables(run, presentation)
    return RunView(
        anchor=anchor,
        label=run.label,
        headline=headline,
        figures=figures,
        tables=tables,
        settings=_settings(run, logs),
        missing=_missing_text(run.scores),
    )


def _run_warnings(run: RunData, logs: pd.DataFrame) -> list[str]:
    warnings = []
    main = logs[logs["log"] == run.run]
    expected = int(main.iloc[0]["expected"]) if not main.empty else 0
    kept = int(logs["kept"].sum())
    if not main.empty and main.iloc[0]["status"] != "success":
        warnings.append(f"The run did not finish (status '{main.iloc[0]['status']}'): {kept} of {expected} samples.")
    elif expected and kept < expected:
        warnings.append(f"Only {kept} of {expected} samples are in the logs.")
    errored = run.scores.loc[run.scores["error"].notna(), ["sample_id", "epoch"]].drop_duplicates()
    if len(errored):
        warnings.append(f"{len(errored)} sample(s) errored; their measurements count as missing.")
    for metric, values in run.scores.groupby("metric", sort=False)["value"]:
        if values.notna().sum() == 0:
            warnings.append(f"No {metric} value at all in this run ({len(values)} missing): that measurement failed.")
    values = run.scores["value"]
    if len(values) and values.isna().mean() > _HIGH_MISSING:
        warnings.append(f"{values.isna().mean():.0%} of the measurements are missing.")
    return warnings


# --- figures -------------------------------------------------------------------------------------------------


def _level_figures(run: RunData, presentation: StudyPresentation) -> list[FigureView]:
    figures = []
    unreliable = presentation.unreliable_groups(run)
    conditions = run.scores["condition"].dropna().unique()
    for metric in presentation.forest_list(run):
        if run.rows(metric)["value"].isna().all():
            continue  # nothing to draw; the warnings and the table say that the measurement failed
        style = presentation.style(metric, run.rows(metric)["value"])
        rows = run.per_group(metric)
        judged = metric in presentation.judged_metrics
        references = presentation.references(run, metric)
        line = presentation.reference_lines.get(metric)
        image = forest_plot(
            _labelled(rows),
            series="condition" if len(conditions) > 1 else None,
            reference=line,
            references=references or None,
            reference_label="target strength" if references else ("no effect" if line is not None else ""),
            muted=unreliable if judged else (),
            title=f"{_capital(style.label)} by {presentation.group_label}",
            xlabel=style.label,
            xlim=style.xlim,
            value_format=_VALUE_FORMATS[style.kind],
            axis_format="{:.0%}" if style.kind == "proportion" else None,
        )
        caption = "Mean with its 95% interval and n per " + presentation.group_label
        if len(conditions) > 1:
            caption += ", one colour per condition"
        if judged and unreliable:
            caption += "; greyed rows have an unreliable judge and are not findings"
        figures.append(
            FigureView(
                f"{_capital(style.label)} by {presentation.group_label}",
                _markup(image),
                caption + ".",
                _samples(run.rows(metric)),
            )
        )
    return figures


def _difference_figures(run: RunData, presentation: StudyPresentation) -> list[FigureView]:
    assert run.conditions is not None
    figures = []
    unreliable = presentation.unreliable_groups(run)
    for metric in presentation.forest_list(run):
        rows = run.conditions[run.conditions["metric"] == metric]
        if rows.empty or rows["n_pairs"].sum() == 0:
            continue
        style = presentation.style(metric, run.rows(metric)["value"])
        judged = metric in presentation.judged_metrics
        title = f"{_capital(style.label)}: character − baseline, by {presentation.group_label}"
        image = forest_plot(
            _labelled(rows),
            estimate="difference",
            n="n_pairs",
            reference=0.0,
            reference_label="no difference",
            muted=unreliable if judged else (),
            title=title,
            xlabel=f"difference in {style.label}",
            value_format=_DIFFERENCE_FORMATS[style.kind],
        )
        caption = (
            f"Paired on item; n is the number of complete pairs. {PAIRED_TEST.capitalize()} with Holm's correction "
            "across groups in the table below; an interval crossing the dashed line is no detectable difference."
        )
        figures.append(FigureView(title, _markup(image), caption, _samples(run.rows(metric))))
    return figures


def _distribution_figures(run: RunData, presentation: StudyPresentation) -> list[FigureView]:
    figures = []
    conditions = run.scores["condition"].dropna().unique()
    for metric in presentation.distribution_metrics:
        rows = run.rows(metric)
        present = rows["value"].dropna()
        if present.empty or present.isin([0.0, 1.0]).all():
            continue  # a 0/1 metric is fully described by its proportion
        style = presentation.style(metric, rows["value"])
        by = "condition" if len(conditions) > 1 else "group"
        title = f"Distribution of {style.label} by {by if by == 'condition' else presentation.group_label}"
        shown = _by_condition(rows) if by == "condition" else rows.sort_values("group", kind="stable")
        image = distribution_plot(shown, by=by, title=title, xlabel=style.label, xlim=style.xlim)
        caption = "Each point is one sample (missing values are counted, not drawn); the shaded shape is the density."
        figures.append(FigureView(title, _markup(image), caption, _samples(rows)))
    return figures


def _figure(extra: ExtraFigure) -> FigureView:
    title, caption, image, rows = extra
    return FigureView(title, _markup(image), caption, _samples(rows))


def _by_condition(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows ordered so that the character comes first and the baseline second (the figures' first two colours)."""
    rank = rows["condition"].map(lambda c: _CONDITION_ORDER.get(c, len(_CONDITION_ORDER)) if isinstance(c, str) else -1)
    return rows.assign(_rank=rank).sort_values(["_rank", "condition"], kind="stable").drop(columns="_rank")


def _labelled(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows with printable group and condition labels (a missing key is shown as ``(none)``)."""
    out = rows.copy()
    for column in ("group", "condition"):
        if column in out:
            out[column] = out[column].astype(object).where(out[column].notna(), "(none)").astype(str)
    return out


def _samples(rows: pd.DataFrame) -> list[SampleGroup]:
    """The samples behind some rows, grouped by the log they were read from."""
    if rows.empty:
        return []
    unique = rows.drop_duplicates(["log", "sample_id", "epoch"])
    several_epochs = bool((unique["epoch"] > 1).any())
    groups = []
    for log, members in unique.groupby("log", sort=False):
        ids = [
            f"{sample_id} (epoch {epoch})" if several_epochs else str(sample_id)
            for sample_id, epoch in zip(members["sample_id"], members["epoch"], strict=True)
        ]
        groups.append(SampleGroup(log=str(log), folder=folder_of(str(log)), ids=ids))
    return groups


# --- tables --------------------------------------------------------------------------------------------------


def _summary_table(run: RunData, presentation: StudyPresentation) -> TableView:
    unreliable = presentation.unreliable_groups(run)
    with_conditions = run.summary["condition"].notna().any()
    columns = [
        presentation.group_label,
        *(["condition"] if with_conditions else []),
        "metric",
        "mean [95% interval]",
        "n",
        "missing",
    ]
    order = {metric: index for index, metric in enumerate(run.metrics())}
    summary = run.summary.assign(_order=run.summary["metric"].map(order)).sort_values(["_order", "group", "condition"])
    rows = []
    for record in summary.to_dict("records"):
        style = presentation.style(str(record["metric"]), run.rows(str(record["metric"]))["value"])
        shaky = record["metric"] in presentation.judged_metrics and record["group"] in unreliable
        estimate = format_estimate(record["mean"], record["low"], record["high"], int(record["n"]), style.kind)
        cells = [Cell(_text(record["group"]))]
        if with_conditions:
            cells.append(Cell(_text(record["condition"])))
        cells += [
            Cell(style.label, title=str(record["metric"])),
            Cell(
                estimate.rsplit(", n = ", 1)[0],
                css="unreliable" if shaky else "",
                badge="unreliable" if shaky else "",
                title=str(record["method"]),
            ),
            Cell(str(int(record["n"])), css="num"),
            Cell(_percent(record["missing_rate"]), css="num"),
        ]
        rows.append(cells)
    note = (
        "Intervals: " + (str(summary["method"].iloc[0]) if len(summary) else "none") + "; hover a value for its method."
    )
    return TableView(f"Every measurement by {presentation.group_label}", columns, rows, note)


def _conditions_table(run: RunData, presentation: StudyPresentation) -> TableView:
    assert run.conditions is not None
    unreliable = presentation.unreliable_groups(run)
    columns = [
        presentation.group_label,
        "metric",
        "character",
        "baseline",
        "difference [95% CI]",
        "pairs",
        "p",
        "Holm p",
        "reading",
    ]
    rows = []
    order = {metric: index for index, metric in enumerate(run.metrics())}
    table = run.conditions.assign(_order=run.conditions["metric"].map(order)).sort_values(["_order", "group"])
    for record in table.to_dict("records"):
        style = presentation.style(str(record["metric"]), run.rows(str(record["metric"]))["value"])
        shaky = record["metric"] in presentation.judged_metrics and record["group"] in unreliable
        verdict = _verdict(record, shaky=shaky, higher="character higher", lower="character lower")
        rows.append(
            [
                Cell(_text(record["group"])),
                Cell(style.label, css="label", title=str(record["metric"])),
                Cell(_format_mean(record["mean_a"], style.kind), css="num"),
                Cell(_format_mean(record["mean_b"], style.kind), css="num"),
                Cell(format_difference(record["difference"], record["low"], record["high"], style.kind), css="num"),
                _pairs_cell(record),
                Cell(
                    format_p(record["p_value"]),
                    css="num",
                    title="exact" if record["exact"] else "10,000 random sign patterns",
                ),
                Cell(format_p(record["p_holm"]), css="num"),
                verdict,
            ]
        )
    note = (
        f"{PAIRED_TEST.capitalize()} of character against baseline, pairing samples on their item (values averaged "
        f"within an item first); Holm-adjusted across {presentation.group_label}s for each metric. "
        "* some pairs dropped because a side was missing (hover for how many)."
    )
    return TableView("Character against baseline, paired by item", columns, rows, note)


def _verdict(record: Mapping[Hashable, Any], *, shaky: bool, higher: str, lower: str) -> Cell:
    """How to read one paired test; a difference on scores from an unreliable judge is never read as a finding."""
    if shaky:
        return Cell("judge unreliable: not a finding", css="unreliable")
    return reading(record["difference"], record["low"], record["high"], record["p_holm"], higher=higher, lower=lower)


# --- comparing runs ------------------------------------------------------------------------------------------


def _comparison_view(anchor: str, base: RunData, other: RunData, presentation: StudyPresentation) -> RunView:
    """Run 2 (``other``) against run 1 (``base``, the earliest run sharing samples with it), paired on sample ids."""
    tests = compare_runs(pd.concat([base.scores, other.scores]), other.run, base.run)
    unreliable = presentation.unreliable_groups(base) | presentation.unreliable_groups(other)
    effects, nulls, shaky_count = [], 0, 0
    rows = []
    order = {metric: index for index, metric in enumerate(other.metrics())}
    tests = tests.assign(_order=tests["metric"].map(order)).sort_values(["_order", "group", "condition"])
    for record in tests.to_dict("records"):
        style = presentation.style(str(record["metric"]), other.rows(str(record["metric"]))["value"])
        shaky = record["metric"] in presentation.judged_metrics and record["group"] in unreliable
        verdict = _verdict(record, shaky=shaky, higher="higher in run 2", lower="lower in run 2")
        if shaky:
            shaky_count += 1
        elif verdict.css == "null":
            nulls += 1
        else:
            effects.append(
                f"{_text(record['group'])}{_condition_suffix(record['condition'])} {style.label} "
                f"{format_difference(record['difference'], record['low'], record['high'], style.kind)} "
                f"(n = {int(record['n_pairs'])} pairs, {p_text(record['p_holm'], 'Holm p')})"
            )
        rows.append(
            [
                Cell(_text(record["group"])),
                Cell(_text(record["condition"])),
                Cell(style.label, css="label", title=str(record["metric"])),
                Cell(_format_mean(record["mean_b"], style.kind), css="num"),
                Cell(_format_mean(record["mean_a"], style.kind), css="num"),
                Cell(format_difference(record["difference"], record["low"], record["high"], style.kind), css="num"),
                _pairs_cell(record),
                Cell(format_p(record["p_value"]), css="num"),
                Cell(format_p(record["p_holm"]), css="num"),
                verdict,
            ]
        )
    pairs = int(tests["n_pairs"].max()) if len(tests) else 0
    if not len(tests) or pairs == 0:
        text = f"{other.label} and {base.label} share no samples: nothing to pair."
    else:
        text = f"On the same samples (up to {pairs} pairs per group), run 2 ({other.label}) against run 1: "
        if effects:
            text += "; ".join(effects[:_LISTED]) + (
                f"; and {len(effects) - _LISTED} more" if len(effects) > _LISTED else ""
            )
            text += f"; no detectable difference in {nulls} other comparison(s)." if nulls else "."
        else:
            text += "no detectable difference anywhere."
    warnings = (
        [f"{shaky_count} judge comparison(s) involve a trait with an unreliable judge and are not findings."]
        if shaky_count
        else []
    )
    headline = Headline(text=text, details=_setting_differences(base, other), warnings=warnings)
    figures = []
    for metric in presentation.forest_list(other):
        style = presentation.style(metric, other.rows(metric)["value"])
        both = pd.concat(
            [
                _primary(base, metric).assign(run=f"run 1: {base.label}"),
                _primary(other, metric).assign(run=f"run 2: {other.label}"),
            ]
        )
        references = presentation.references(other, metric)
        line = presentation.reference_lines.get(metric)
        image = forest_plot(
            _labelled(both),
            series="run",
            muted=unreliable if metric in presentation.judged_metrics else (),
            reference=line,
            references=references or None,
            reference_label="target strength" if references else ("no effect" if line is not None else ""),
            title=f"{_capital(style.label)} by {presentation.group_label}: both runs",
            xlabel=style.label,
            xlim=style.xlim,
            value_format=_VALUE_FORMATS[style.kind],
            axis_format="{:.0%}" if style.kind == "proportion" else None,
        )
        condition = " (character condition)" if base.has_conditions(_CHARACTER) else ""
        figures.append(
            FigureView(
                f"{_capital(style.label)}: both runs",
                _markup(image),
                f"Each run's mean with its 95% interval and n{condition}; the paired tests are in the table below.",
                _samples(pd.concat([base.rows(metric), other.rows(metric)])),
            )
        )
    columns = [
        presentation.group_label,
        "condition",
        "metric",
        "run 1",
        "run 2",
        "difference [95% CI]",
        "pairs",
        "p",
        "Holm p",
        "reading",
    ]
    if any(record["n_dropped"] for record in tests.to_dict("records")):
        columns[6] = "pairs*"
    table = TableView(
        "Run 2 against run 1, paired on sample id and epoch",
        columns,
        rows,
        f"Run 1: {base.label} ({base.run}). Run 2: {other.label} ({other.run}). Difference = run 2 − run 1. "
        f"{PAIRED_TEST.capitalize()} on the samples both runs hold; Holm-adjusted across {presentation.group_label}s "
        "for each (condition, metric).",
    )
    runs = SettingsView(items=[("run 1", base.run), ("run 2", other.run)], data_files=[], logs=[])
    return RunView(
        anchor=anchor,
        label=f"{other.label} vs {base.label}",
        headline=headline,
        figures=figures,
        tables=[table],
        settings=runs,
        missing="",
    )


def _pairs_cell(record: Mapping[Any, Any]) -> Cell:
    dropped = int(record["n_dropped"])
    title = f"{dropped} pair(s) dropped: a side was missing" if dropped else "no pair dropped"
    return Cell(str(int(record["n_pairs"])) + ("*" if dropped else ""), css="num", title=title)


def _primary(run: RunData, metric: str) -> pd.DataFrame:
    """A run's per-group summary of a metric in its main condition (the character, when there is one)."""
    if run.has_conditions(_CHARACTER):
        return run.per_group(metric, _CHARACTER)
    rows = run.per_group(metric)
    return (
        rows if rows["condition"].nunique(dropna=False) <= 1 else rows[rows["condition"] == rows["condition"].iloc[0]]
    )


def _setting_differences(base: RunData, other: RunData) -> list[str]:
    left, right = _flat_settings(base.metadata), _flat_settings(other.metadata)
    keys = [key for key in dict.fromkeys([*right, *left]) if left.get(key) != right.get(key) and key != "data_files"]
    return [f"{key}: {right.get(key, '–')} (vs {left.get(key, '–')})" for key in keys]


# --- settings ------------------------------------------------------------------------------------------------


def _settings(run: RunData, logs: pd.DataFrame) -> SettingsView:
    main = logs[logs["log"] == run.run]
    info = main.iloc[0].to_dict() if not main.empty else {}
    items: list[tuple[str, str]] = [
        ("study", run.study),
        ("task", str(info.get("task", ""))),
        ("model", str(info.get("model", ""))),
        ("character", _text(info.get("character"))),
        ("judge", _text(info.get("judge"))),
        ("scoring", _text(info.get("scoring"))),
        ("epochs", str(info.get("epochs", ""))),
        ("temperature", _text(info.get("temperature"))),
        ("created", _when(info.get("created"))),
    ]
    items += [
        (f"settings.{key}", value) for key, value in _flat_settings({"settings": info.get("settings") or {}}).items()
    ]
    items += [(f"task argument {key}", _json(value)) for key, value in (info.get("task_args") or {}).items()]
    data_files = [
        {
            "path": str(entry.get("path", "")),
            "sha256": str(entry.get("sha256", "")),
            "lines": _text(entry.get("lines")),
            "skipped": str(len(entry.get("skipped") or [])),
            "skipped_detail": "; ".join(_json(skip) for skip in (entry.get("skipped") or [])),
        }
        for entry in (info.get("data_files") or [])
        if isinstance(entry, Mapping)
    ]
    log_views = [
        LogView(
            path=str(row["log"]),
            folder=folder_of(str(row["log"])),
            status=str(row["status"]),
            samples=int(row["samples"]),
            kept=int(row["kept"]),
            errors=int(row["errors"]),
            expected=int(row["expected"]),
            created=_when(row["created"]),
        )
        for row in logs.sort_values("created").to_dict("records")
    ]
    return SettingsView(items=items, data_files=data_files, logs=log_views)


def _flat_settings(metadata: Mapping[str, Any]) -> dict[str, str]:
    """The run's settings as ``key → text``, nested dicts flattened with dots (judge validity and traits aside)."""
    flat: dict[str, str] = {}
    for key, value in (metadata.get("settings") or {}).items():
        if isinstance(value, Mapping):
            for inner, item in value.items():
                flat[f"{key}.{inner}"] = _json(item)
        else:
            flat[str(key)] = _json(value)
    for key in ("character", "judge", "scoring"):
        if key in metadata:
            flat[key] = _json(metadata[key])
    return flat


# --- small formatting helpers --------------------------------------------------------------------------------


def _run_labels(runs: pd.DataFrame, order: list[str]) -> dict[str, str]:
    labels = {}
    for run in order:
        main = runs[runs["log"] == run]
        row = main.iloc[0] if not main.empty else runs[runs["run"] == run].iloc[0]
        character = row["character"] if isinstance(row["character"], str) else "no character"
        baseline = (row["metadata"] or {}).get("baseline")
        if isinstance(baseline, str) and baseline != "none":
            # Against another character rather than the bare model: name it, by its file.
            character += f" vs {PurePath(baseline).name.removesuffix('.character.yaml')}"
        labels[run] = f"{character} · {row['model']}"
    counts = pd.Series(list(labels.values())).value_counts()
    for run, label in labels.items():
        if counts[label] > 1:
            created = runs[runs["run"] == run]["created"].min()
            labels[run] = f"{label} · {_when(created)}"
    return labels


def _missing_text(scores: pd.DataFrame) -> str:
    if scores.empty:
        return "no measurements"
    total = len(scores)
    missing = int(scores["value"].isna().sum())
    errored = len(scores.loc[scores["error"].notna(), ["run", "sample_id", "epoch"]].drop_duplicates())
    text = f"{missing / total:.1%} of {total:,} measurements missing"
    return text + (f" ({errored} errored sample(s))" if errored else "")


def _format_mean(value: float, kind: Any) -> str:
    return format_estimate(value, math.nan, math.nan, 0, kind).split(" [", 1)[0]


def _condition_suffix(condition: object) -> str:
    return f" ({condition})" if isinstance(condition, str) else ""


def _text(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return str(value)


def _percent(value: object) -> str:
    return "–" if not isinstance(value, int | float) or math.isnan(value) else f"{value:.0%}"


def _json(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)


def _when(value: object) -> str:
    if isinstance(value, pd.Timestamp | datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return _text(value)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "study"


def _markup(image: str) -> Markup:
    # Our own matplotlib output: SVG whose text matplotlib has escaped, or a PNG data URI.
    if image.startswith("data:image/"):
        return Markup('<img class="figure" alt="" src="{}">').format(image)
    return Markup(image)
