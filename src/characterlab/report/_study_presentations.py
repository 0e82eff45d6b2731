"""How each known study is presented: its metrics, its figures, and its headline in words.

The report reads logs and never imports ``characterlab.studies``: what it knows about a study lives here, keyed by
the study id, and an unknown study falls back to a generic presentation (every metric summarized per group).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import numpy as np
import pandas as pd

from characterlab.analysis import (
    DialogueTurn,
    Estimate,
    attractor_survival,
    bootstrap_mean,
    forest_plot,
    lexicon_counts,
    lexicon_table,
    load_lexicon,
    paired_permutation_test,
    survival_curve,
    survival_plot,
    transition_matrix,
    turn_curve_plot,
)
from characterlab.errors import CharacterlabError
from characterlab.report._study_views import (
    Cell,
    Headline,
    MetricKind,
    TableView,
    format_difference,
    format_estimate,
    format_value,
    p_text,
    reading,
)

__all__ = [
    "PRESENTATIONS",
    "ExtraFigure",
    "ExtraTables",
    "MetricStyle",
    "RunData",
    "StudyPresentation",
    "presentation_of",
]

_HELD = re.compile(r"^held_(\d+)$")
_PROBED = re.compile(r"^(stability|leakage)_(\d+)$")
_LISTED = 4  # groups named in a one-line headline before "and k more"


@dataclass(frozen=True)
class MetricStyle:
    """How one metric is labelled, formatted and scaled."""

    label: str
    kind: MetricKind
    xlim: tuple[float, float] | None = None


@dataclass(frozen=True)
class RunData:
    """One logical run of a study, with the tables the presentations read."""

    run: str
    """The run's log path (its newest successful log)."""
    label: str
    """How the report names the run (character, model, scoring)."""
    study: str
    scores: pd.DataFrame
    """Its rows of the scores table."""
    summary: pd.DataFrame
    """``summarize`` by (group, condition, metric)."""
    conditions: pd.DataFrame | None
    """``compare_conditions`` of character against baseline, when the run has both."""
    metadata: dict[str, Any]
    """The run's ``characterlab`` eval metadata."""
    validity: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Judge validity per group (trait): ``auroc``, ``gap``, ``reliable``, … from the eval metadata and from the
    run's own validity samples."""
    details: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Its rows of ``score_metadata_table`` (what the scorer recorded beside its values: transcripts, per-turn
    measures), read only for a study whose presentation asks for them; empty otherwise."""
    censored: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Its rows of the scores table for the presentation's censored metrics (kept out of ``scores``, where a NaN
    would count as missing)."""

    def metrics(self) -> list[str]:
        """The metrics present in the run, in first-seen order."""
        return list(dict.fromkeys(self.scores["metric"].dropna().astype(str)))

    def rows(self, metric: str, condition: str | None = None) -> pd.DataFrame:
        """The run's rows of one metric (and one condition)."""
        rows = self.scores[self.scores["metric"] == metric]
        return rows if condition is None else rows[rows["condition"] == condition]

    def pooled(self, metric: str, condition: str | None = None) -> Estimate:
        """The metric over every group, resampling items."""
        rows = self.rows(metric, condition)
        return bootstrap_mean(rows["value"].to_numpy(dtype=np.float64), clusters=rows["item"].to_numpy())

    def per_group(self, metric: str, condition: str | None = None) -> pd.DataFrame:
        """The summary rows of one metric (and condition), one per group."""
        rows = self.summary[self.summary["metric"] == metric]
        if condition is not None:
            rows = rows[rows["condition"] == condition]
        return rows

    def conditions_present(self) -> list[str]:
        """The run's conditions, in first-seen order."""
        return list(dict.fromkeys(self.scores["condition"].dropna().astype(str)))

    def has_conditions(self, *names: str) -> bool:
        """Whether the run holds every one of these conditions."""
        present = set(self.scores["condition"].dropna())
        return all(name in present for name in names)


ExtraFigure = tuple[str, str, str, pd.DataFrame]
"""A study-specific figure: (title, caption, image, the rows behind it)."""

ExtraTables = Callable[["RunData", "StudyPresentation"], list[TableView]]
"""Study-specific tables of a run (a lexicon, excerpts of transcripts, one row per persona pair)."""


@dataclass(frozen=True)
class StudyPresentation:
    """What the report knows about one study."""

    title: str
    about: str
    group_label: str
    """What a group is in this study (behaviour, domain, trait, …)."""
    metrics: Mapping[str, MetricStyle] = field(default_factory=dict)
    forest_metrics: tuple[str, ...] = ()
    """Metrics drawn per group as forest plots; empty: every metric (up to six)."""
    distribution_metrics: tuple[str, ...] = ()
    """Metrics whose distribution is drawn per condition."""
    judged_metrics: tuple[str, ...] = ()
    """Metrics from an LLM judge, muted for groups whose judge was found unreliable."""
    reference_lines: Mapping[str, float] = field(default_factory=dict)
    """A vertical reference line per metric (e.g. 0 for a shift: no sycophancy)."""
    core_metrics: tuple[str, ...] = ()
    """Metrics every group is meant to have: a group where one is all NaN shows it as 100% missing. Any other
    metric that is all NaN in a group was not measured there (a trait naming no ``regex``, turns past a script's
    end) and is left out rather than counted as missing."""
    switched_off_by: Mapping[str, str] = field(default_factory=dict)
    """Metric → the setting that turns it off (``judge`` → ``use_judge``, ``nli_contradiction`` → ``nli_model``):
    when that setting is recorded as false or unset (null), the metric's NaNs mean "not measured", not "missing"."""
    validity_condition: str | None = None
    """The condition of samples that check the judge (one per group) rather than measure anything."""
    validity_metrics: Mapping[str, str] = field(default_factory=dict)
    """Metric of a validity sample → key of the validity record (``judge_auroc`` → ``auroc``)."""
    censored_metrics: tuple[str, ...] = ()
    """Metrics whose NaN means "has not happened" rather than "missing" (``attractor_turn``: never reached, censored
    at the last turn): kept apart from the means, the missing rates and the comparisons, for survival figures."""
    reads_score_metadata: bool = False
    """Whether the presentation reads the scorer's per-sample metadata (``RunData.details``); reading it costs
    time, so only studies that need it ask."""
    independent_epochs: bool = False
    """Each epoch of a sample is an independent draw (a conversation held again), not a repeat of the same item:
    intervals resample (sample, epoch) rather than whole items, so one opener held 16 times is 16 clusters."""
    headline: Callable[[RunData, StudyPresentation], Headline] | None = None
    extra_figures: Callable[[RunData, StudyPresentation], list[ExtraFigure]] | None = None
    extra_tables: ExtraTables | None = None

    def style(self, metric: str, values: pd.Series | None = None) -> MetricStyle:
        """The style of a metric: declared, or inferred from its name (``held_3``) and values."""
        if metric in self.metrics:
            return self.metrics[metric]
        if _HELD.match(metric):
            return MetricStyle(f"held at turn {metric.removeprefix('held_')}", "proportion", (0, 1))
        if probed := _PROBED.match(metric):
            name, round_number = probed.groups()
            return MetricStyle(f"{name} after round {round_number}", "probability", (0, 1))
        present = values.dropna() if values is not None else pd.Series(dtype=float)
        if not present.empty and present.isin([0.0, 1.0]).all():
            return MetricStyle(metric, "proportion", (0, 1))
        if not present.empty and present.between(0, 1).all():
            return MetricStyle(metric, "probability", (0, 1))
        return MetricStyle(metric, "number")

    def forest_list(self, run: RunData) -> list[str]:
        """The metrics to draw as forest plots for a run."""
        present = run.metrics()
        if self.forest_metrics:
            return [metric for metric in self.forest_metrics if metric in present]
        return [metric for metric in present if not _HELD.match(metric)][:6]

    def unreliable_groups(self, run: RunData) -> set[str]:
        """Groups (traits) whose judge numbers are not findings: its check failed, or it was never checked."""
        if not self.judged_metrics:
            return set()
        judged = run.scores[run.scores["metric"].isin(self.judged_metrics)]
        groups = {str(group) for group in judged["group"].dropna().unique()}
        return {group for group in groups if not _reliable(run.validity.get(group) or {})}

    def references(self, run: RunData, metric: str) -> dict[str, float]:
        """Reference marks per group for a metric: a trait's target strength on the judge's 0–100 scale."""
        if metric not in self.judged_metrics:
            return {}
        traits = run.metadata.get("traits") or {}
        return {
            str(trait): float(spec["strength"]) * 100
            for trait, spec in traits.items()
            if isinstance(spec, Mapping) and isinstance(spec.get("strength"), int | float)
        }


def presentation_of(study: str) -> StudyPresentation:
    """The presentation of a study id; the generic one for a study this report does not know."""
    return PRESENTATIONS.get(study) or StudyPresentation(
        title=study.replace("_", " ").capitalize(),
        about="A study this report has no specific presentation for: every metric is summarized per group.",
        group_label="group",
        headline=_generic_headline,
    )


# --- headlines -----------------------------------------------------------------------------------------------


def _generic_headline(run: RunData, study: StudyPresentation) -> Headline:
    parts = []
    for metric in study.forest_list(run)[:_LISTED]:
        style = study.style(metric, run.rows(metric)["value"])
        e = run.pooled(metric)
        parts.append(f"{style.label} {format_estimate(e.mean, e.low, e.high, e.n, style.kind)}")
    text = _sentence("; ".join(parts) + " (pooled over groups)") if parts else "No measurements."
    return Headline(text=text, details=_per_group_details(run, study, study.forest_list(run)))


def _persona_headline(run: RunData, study: StudyPresentation) -> Headline:
    methods = run.rows("match").drop_duplicates(["sample_id", "epoch"])["method"]
    generated = int((methods == "generate").sum())
    generate = run.metadata.get("scoring") == "generate" or generated > 0
    labels = ["generate-and-parse"] if generate else ["log-probabilities"]
    warnings = []
    if generated and generated < len(methods):
        warnings.append(
            f"{generated} of {len(methods)} answers were generated and parsed (the model gave no log-probabilities "
            "for them); their P(matching) is 0 or 1, not a probability."
        )
    p_match = {record["group"]: record for record in run.per_group("p_match").to_dict("records")}
    short, lines = [], []
    for record in run.per_group("match").to_dict("records"):
        share = _estimate(record, "proportion")
        condition = f" ({record['condition']})" if len(run.conditions_present()) > 1 else ""
        short.append(f"{record['group']}{condition} {share}")
        p = next(
            (
                row
                for row in run.per_group("p_match").to_dict("records")
                if row["group"] == record["group"] and row["condition"] == record["condition"]
            ),
            p_match.get(record["group"]),
        )
        lines.append(
            f"{record['group']}{condition}: {share} of answers matching"
            + (f"; mean P(matching) {_estimate(p, 'probability')}" if p is not None else "")
        )
    more = f"; and {len(short) - _LISTED} more" if len(short) > _LISTED else ""
    prefix = "Generate-and-parse run (answers parsed from generated text, not log-probabilities). " if generate else ""
    text = prefix + (
        _sentence("Answers matching each behaviour: " + "; ".join(short[:_LISTED]) + more) if short else "No answers."
    )
    return Headline(text=text, details=lines, warnings=warnings, labels=labels)


def _sycophancy_headline(run: RunData, study: StudyPresentation) -> Headline:
    items = run.rows("shift").groupby("item", sort=False)["value"].mean().to_numpy(dtype=np.float64)
    index = bootstrap_mean(items)
    test = paired_permutation_test(items, np.zeros(items.size))
    estimate = format_estimate(index.mean, index.low, index.high, index.n, "signed", unit=" items")
    verdict = reading(index.mean, index.low, index.high, test.p_value, higher="", lower="")
    if verdict.css == "null":
        meaning = "no detectable shift toward the user's view"
    elif index.mean > 0:
        meaning = "answers move toward the view the user holds"
    else:
        meaning = "answers move away from the view the user holds"
    text = (
        f"Sycophancy index {estimate} (mean shift of P(view) when the user holds the view); "
        f"{test.test} against 0: {p_text(test.p_value)}. In words: {meaning}."
    )
    details = [
        f"{record['group']}: shift {_estimate(record, 'signed')}"
        for record in run.per_group("shift").to_dict("records")
    ]
    agree = run.pooled("agree_user")
    if agree.n:
        details.append(
            "agrees with the user's view in "
            + format_estimate(agree.mean, agree.low, agree.high, agree.n, "proportion")
            + " of answers"
        )
    return Headline(text=text, details=details)


def _self_report_headline(run: RunData, study: StudyPresentation) -> Headline:
    parts = []
    for metric in ("stance_agreement", "embedding_agreement", "nli_contradiction"):
        e = run.pooled(metric)
        if e.n or e.n_missing:
            style = study.style(metric)
            parts.append(f"{style.label} {format_estimate(e.mean, e.low, e.high, e.n, style.kind)}")
    questions = run.scores["group"].nunique()
    text = _sentence(f"Across {questions} self-report questions: " + "; ".join(parts)) if parts else "No measurements."
    return Headline(text=text, details=_per_group_details(run, study, study.forest_list(run)))


def _trait_headline(run: RunData, study: StudyPresentation) -> Headline:
    unreliable = study.unreliable_groups(run)
    sentences = []
    measured = study.forest_list(run)
    if run.conditions is not None and not run.conditions.empty:
        for metric in measured:
            rows = run.conditions[run.conditions["metric"] == metric]
            if rows.empty:
                continue
            style = study.style(metric)
            judged = metric in study.judged_metrics
            effects, nulls = [], []
            for record in rows.to_dict("records"):
                if judged and record["group"] in unreliable:
                    continue
                cell = reading(
                    record["difference"],
                    record["low"],
                    record["high"],
                    record["p_holm"],
                    higher="higher",
                    lower="lower",
                )
                if cell.css == "null":
                    nulls.append(str(record["group"]))
                else:
                    difference = format_difference(record["difference"], record["low"], record["high"], style.kind)
                    effects.append(
                        f"{record['group']} {cell.text} ({difference}, n = {record['n_pairs']} pairs, "
                        f"{p_text(record['p_holm'], 'Holm p')})"
                    )
            scope = " (traits with a reliable judge)" if judged else ""
            sentence = f"{_capital(style.label)}, character vs baseline{scope}: "
            sentence += "; ".join(effects) if effects else "no trait differs detectably"
            if effects and nulls:
                sentence += f"; no detectable difference for {', '.join(nulls)}"
            sentences.append(_sentence(sentence))
    else:
        for metric in measured:
            records = run.per_group(metric).to_dict("records")
            if not records:
                continue
            style = study.style(metric)
            parts = [
                f"{record['group']} {_estimate(record, style.kind)}"
                + (" (unreliable)" if metric in study.judged_metrics and record["group"] in unreliable else "")
                for record in records
            ]
            sentences.append(_sentence(f"{_capital(style.label)}: " + "; ".join(parts[:_LISTED])))
    return Headline(
        text=" ".join(sentences) or "No measurements.",
        details=_per_group_details(run, study, study.forest_list(run)),
        warnings=_judge_warnings(run, study),
    )


def _hold_headline(run: RunData, study: StudyPresentation) -> Headline:
    matrix, samples = _held_matrix(run)
    if matrix.size == 0:
        return Headline(text="No turns were scored.")
    # ``broke`` (the study's own verdict) knows each script's length; without it, a conversation held when every
    # turn it was observed for held.
    broke = run.rows("broke").drop_duplicates(["sample_id", "epoch"]).set_index(["sample_id", "epoch"])["value"]
    if broke.notna().any():
        keys = pd.MultiIndex.from_frame(samples[["sample_id", "epoch"]])
        held_all = 1.0 - broke.reindex(keys).to_numpy(dtype=np.float64)
    else:
        held_all = _all_held(matrix)
    overall = bootstrap_mean(held_all, clusters=samples["item"].to_numpy())
    text = "Never broke character in " + format_estimate(
        overall.mean, overall.low, overall.high, overall.n, "proportion", unit=" conversations"
    )
    survived = run.pooled("survived")
    if survived.n:
        text += "; turns held before the first break " + format_estimate(
            survived.mean, survived.low, survived.high, survived.n, "turns"
        )
    details = []
    worst: tuple[float, str] | None = None
    for pressure, rows in samples.groupby("group", sort=True):
        held = bootstrap_mean(held_all[rows.index.to_numpy()], clusters=rows["item"].to_numpy())
        details.append(
            f"{pressure}: never broke in {format_estimate(held.mean, held.low, held.high, held.n, 'proportion')}"
        )
        if held.n and (worst is None or held.mean < worst[0]):
            worst = (held.mean, str(pressure))
    if worst is not None and len(details) > 1:
        text += f"; weakest under {worst[1]} ({worst[0]:.0%} never broke)"
    recovered = run.pooled("prefill_recovered")
    if recovered.n:
        recovery = format_estimate(recovered.mean, recovered.low, recovered.high, recovered.n, "proportion")
        text += f"; took its own voice back after a prefilled reply in {recovery}"
    return Headline(text=_sentence(text), details=details)


# --- study-specific figures ----------------------------------------------------------------------------------


def _sycophancy_figures(run: RunData, study: StudyPresentation) -> list[ExtraFigure]:
    views = run.summary[run.summary["metric"].isin(["p_view_user", "p_view_neutral"])]
    if views.empty:
        return []
    shown = views.assign(
        series=views["metric"].map({"p_view_user": "user holds the view", "p_view_neutral": "neutral prompt"})
    )
    image = forest_plot(
        shown,
        series="series",
        title="P(view) with and without the user holding it, by domain",
        xlabel="probability of the view",
        xlim=(0, 1),
    )
    caption = "The gap between the two points of a domain is its shift; the index is the mean shift over items."
    behind = run.scores[run.scores["metric"].isin(["p_view_user", "p_view_neutral"])]
    return [("P(view) by domain", caption, image, behind)]


def _hold_figures(run: RunData, study: StudyPresentation) -> list[ExtraFigure]:
    matrix, samples = _held_matrix(run)
    if matrix.size == 0:
        return []
    curves = {}
    for pressure, rows in samples.groupby("group", sort=True):
        index = rows.index.to_numpy()
        curves[str(pressure)] = survival_curve(matrix[index], clusters=rows["item"].to_numpy())
    image = survival_plot(curves, title="Still in character at each turn, by pressure type")
    caption = (
        "Kaplan–Meier estimate: a conversation counts for the turns it was observed; bands are 95% bootstrap "
        "intervals over items."
    )
    held_rows = run.scores[run.scores["metric"].astype(str).str.match(_HELD.pattern)]
    return [("Survival by pressure type", caption, image, held_rows)]


# --- dialogue ------------------------------------------------------------------------------------------------

_CURVE_RESAMPLES = 1000  # per turn and measure: a 30-turn run draws ~150 intervals, each over every conversation
_EXCERPTS = 3  # conversations quoted
_EXCERPT_TURNS = 3  # last turns quoted of each
_EXCERPT_CHARS = 600  # longest quoted turn
_LEXICON_ROWS = 15  # terms listed, most frequent first
_BLISS = "shipped bliss lexicon"
_TURN_CURVES: tuple[tuple[str, str, tuple[tuple[str, str], ...], tuple[float, float] | None], ...] = (
    ("Lexicon rate per turn", "lexicon matches per 1,000 words", (("lexicon_rate", "lexicon rate"),), None),
    ("Lexical diversity per turn", "MATTR (moving-average type-token ratio)", (("mattr", "MATTR"),), (0.0, 1.0)),
    ("Words per turn", "words", (("words", "words"),), None),
    (
        "Embedding convergence and drift per turn",
        "cosine similarity",
        (("similarity_to_partner", "similarity to partner"), ("drift_from_start", "drift from the first turn")),
        None,
    ),
)


def _conversations(run: RunData) -> pd.DataFrame:
    """One row per conversation the scores table kept: ``sample_id``, ``epoch``, ``item``, ``log`` and the scorer's
    ``turns`` and ``turn_metrics`` (lists of dicts, empty when the scorer recorded none)."""
    columns = ["sample_id", "epoch", "item", "log", "turns", "turn_metrics", "phases"]
    if run.details.empty:
        return pd.DataFrame(columns=columns)
    recorded = run.details[run.details["metadata"].map(lambda meta: isinstance(meta.get("turns"), list))]
    recorded = recorded.drop_duplicates(["sample_id", "epoch"])
    keys = run.scores.drop_duplicates(["sample_id", "epoch"]).set_index(["sample_id", "epoch"])["item"]
    items = keys.reindex(pd.MultiIndex.from_frame(recorded[["sample_id", "epoch"]])).to_numpy()
    return pd.DataFrame(
        {
            "sample_id": recorded["sample_id"].to_numpy(),
            "epoch": recorded["epoch"].to_numpy(),
            "item": [
                item if isinstance(item, str) else sample
                for item, sample in zip(items, recorded["sample_id"], strict=True)
            ],
            "log": recorded["log"].to_numpy(),
            "turns": [_dicts(meta.get("turns")) for meta in recorded["metadata"]],
            "turn_metrics": [_dicts(meta.get("turn_metrics")) for meta in recorded["metadata"]],
            "phases": [_labels(meta.get("phases")) for meta in recorded["metadata"]],
        },
        columns=columns,
    )


def _labels(value: object) -> list[str | None]:
    """A conversation's per-turn phase labels (``None`` where the judge placed none); empty when not labelled."""
    return [entry if isinstance(entry, str) else None for entry in value] if isinstance(value, list) else []


def _dicts(value: object) -> list[Mapping[str, Any]]:
    return [entry for entry in value if isinstance(entry, Mapping)] if isinstance(value, list) else []


def _turn_rows(conversations: pd.DataFrame) -> pd.DataFrame:
    """Every turn of every conversation (``turn_metrics``), with its conversation's item and a 1-based ``turn``."""
    records = [
        {**row, "_item": item}
        for item, rows in zip(conversations["item"], conversations["turn_metrics"], strict=True)
        for row in rows
    ]
    table = pd.DataFrame.from_records(records)
    if table.empty or "turn" not in table:
        return pd.DataFrame(columns=["turn", "_item"])
    table["turn"] = pd.to_numeric(table["turn"], errors="coerce")
    table = table[table["turn"].notna()]
    # Stored 0-based (the turn's index); shown as "turn 1" for the first reply, the unit of the survival curve.
    return table.assign(turn=table["turn"].astype(np.int64) + 1)


def _turn_curve(turns: pd.DataFrame, column: str) -> pd.DataFrame:
    """Mean and 95% bootstrap interval per turn of one measure, across conversations (clustered by item)."""
    rows = []
    if column in turns:
        values = pd.to_numeric(turns[column], errors="coerce").to_numpy(dtype=np.float64)
        numbers, items = turns["turn"].to_numpy(dtype=np.int64), turns["_item"].to_numpy()
        for turn in np.unique(numbers):
            index = numbers == turn
            e = bootstrap_mean(values[index], clusters=items[index], resamples=_CURVE_RESAMPLES)
            if e.n:
                rows.append({"turn": int(turn), "mean": e.mean, "low": e.low, "high": e.high, "n": e.n})
    return pd.DataFrame(rows, columns=["turn", "mean", "low", "high", "n"])


def _attractor_times(run: RunData) -> tuple[list[int | None], np.ndarray[Any, np.dtype[Any]], int]:
    """Per conversation the 0-based turn it reached the attractor (``None``: never), its item, and the turns every
    conversation could run for (the run's ``max_turns``)."""
    rows = run.censored[run.censored["metric"] == "attractor_turn"] if not run.censored.empty else run.censored
    if rows.empty:
        return [], np.zeros(0, dtype=object), 0
    rows = rows.drop_duplicates(["sample_id", "epoch"])
    values = rows["value"].to_numpy(dtype=np.float64)
    times = [None if math.isnan(value) else int(value) for value in values]
    setting = (run.metadata.get("settings") or {}).get("max_turns")
    longest = run.rows("turns")["value"].max() if run.rows("turns")["value"].notna().any() else 0
    reached = max((time for time in times if time is not None), default=-1)
    declared = int(setting) if isinstance(setting, int | float) and not math.isnan(setting) else 0
    # A conversation can only reach the attractor at a turn it had; never below that, whatever was recorded.
    max_turns = max(declared, int(longest), reached + 1, 1)
    return times, rows["item"].to_numpy(), max_turns


def _dialogue_headline(run: RunData, study: StudyPresentation) -> Headline:
    conversations = run.scores.drop_duplicates(["sample_id", "epoch"])
    n = len(conversations)
    if n == 0:
        return Headline(text="No conversations.")
    parts = [f"{n} conversation{'s' if n != 1 else ''}"]
    reached = run.pooled("attractor_reached")
    times, _, max_turns = _attractor_times(run)
    if reached.n and reached.mean == 0:
        parts.append(f"none reached the attractor within {max_turns} turns (0 of {reached.n})")
    elif reached.n:
        share = format_estimate(reached.mean, reached.low, reached.high, reached.n, "proportion")
        parts.append(f"reached the attractor in {share}")
    rate = run.pooled("lexicon_rate")
    if rate.n or rate.n_missing:
        estimate = format_estimate(rate.mean, rate.low, rate.high, rate.n, "number")
        parts.append(f"mean lexicon rate {estimate} (matches per 1,000 words)")
    stops = _stop_counts(run)
    if stops:
        parts.append("stopped by " + ", ".join(f"{reason} ({count} of {total})" for reason, count, total in stops))
    # No groups: every measure pooled over the conversations (clustered by opener).
    details = []
    for metric in run.metrics():
        e = run.pooled(metric)
        if e.n and not metric.startswith("stopped_"):
            style = study.style(metric, run.rows(metric)["value"])
            details.append(f"{style.label}: {format_estimate(e.mean, e.low, e.high, e.n, style.kind)}")
    settings = run.metadata.get("settings") or {}
    if "attractor_threshold" in settings:
        details.insert(
            0,
            f"Attractor: at least {settings['attractor_threshold']} lexicon matches per 1,000 words for "
            f"{settings.get('attractor_hold', '?')} turn(s) in a row; lexicon: {settings.get('lexicon', _BLISS)}.",
        )
    present = [time for time in times if time is not None]
    if present:
        first = bootstrap_mean(np.asarray(present, dtype=np.float64) + 1)
        details.append(
            "turn of arrival, among those that arrived: "
            + format_estimate(first.mean, first.low, first.high, first.n, "turns")
        )
    return Headline(text=_sentence("; ".join(parts)), details=details)


def _stop_counts(run: RunData) -> list[tuple[str, int, int]]:
    """(reason, conversations stopped by it, conversations with a recorded reason), most frequent first."""
    counts = []
    for metric in run.metrics():
        if metric.startswith("stopped_"):
            values = run.rows(metric)["value"].dropna()
            if len(values) and values.sum() > 0:
                counts.append((metric.removeprefix("stopped_"), int(values.sum()), len(values)))
    return sorted(counts, key=lambda entry: -entry[1])


def _dialogue_figures(run: RunData, study: StudyPresentation) -> list[ExtraFigure]:
    figures: list[ExtraFigure] = []
    conversations = _conversations(run)
    turns = _turn_rows(conversations)
    behind = run.scores[run.scores["sample_id"].isin(set(conversations["sample_id"]))]
    for title, ylabel, series, ylim in _TURN_CURVES:
        curves = {label: _turn_curve(turns, column) for column, label in series}
        curves = {label: curve for label, curve in curves.items() if not curve.empty}
        if not curves:
            continue
        image = turn_curve_plot(curves, title=title, xlabel="turn", ylabel=ylabel, ylim=ylim)
        caption = (
            "Mean per turn across conversations with its 95% bootstrap interval (each conversation resampled as a "
            "whole); n is the conversations that reached the turn, fewer where some stopped early."
        )
        figures.append((title, caption, image, behind))
    times, items, max_turns = _attractor_times(run)
    if times:
        curve = attractor_survival(times, max_turns, clusters=items)
        reached = sum(time is not None for time in times)
        image = survival_plot(
            {"conversations": curve},
            title="Not yet in the attractor, by turn",
            ylabel="fraction not yet in the attractor",
        )
        caption = (
            f"Kaplan–Meier estimate of time to attractor; {reached} of {len(times)} conversations reached it, the "
            f"others are censored at turn {max_turns}"
            + (" (none reached it: the curve stays at 100%)" if reached == 0 else "")
            + ". Bands are 95% bootstrap intervals over openers."
        )
        figures.append(("Time to attractor", caption, image, run.censored))
    return figures


def _dialogue_tables(run: RunData, study: StudyPresentation) -> list[TableView]:
    conversations = _conversations(run)
    if conversations.empty:
        return []
    tables = [_lexicon_view(run, conversations), _excerpts_view(run, conversations)]
    phases = (run.metadata.get("settings") or {}).get("phases")
    if isinstance(phases, list) and any(conversations["phases"].map(len)):
        tables.append(_phases_view([str(phase) for phase in phases], conversations["phases"].tolist()))
    return tables


def _phases_view(phases: list[str], sequences: list[list[str | None]]) -> TableView:
    """The judge's phase labels: how often each phase follows each, pooled over conversations."""
    matrix = transition_matrix(sequences, labels=phases)
    placed = [label for sequence in sequences for label in sequence]
    rows = []
    for phase in phases:
        turns = sum(label == phase for label in placed)
        following = [
            Cell("–" if math.isnan(share) else f"{share:.0%}", css="num") for share in matrix.loc[phase].to_numpy()
        ]
        rows.append([Cell(phase), Cell(f"{turns}", css="num"), *following])
    unplaced = sum(label is None for label in placed)
    note = (
        f"Each row: of the turns the judge placed in that phase and followed by another placed turn, the share "
        f"whose next turn is in each phase (pooled over {len(sequences)} conversations; – where the phase is never "
        f"followed). {unplaced} of {len(placed)} turns could not be placed and break their chain."
    )
    columns = ["phase", "turns", *(f"→ {phase}" for phase in phases)]
    return TableView("Phases and their transitions", columns, rows, note)


def _lexicon_view(run: RunData, conversations: pd.DataFrame) -> TableView:
    name = (run.metadata.get("settings") or {}).get("lexicon") or _BLISS
    title = "Lexicon terms across conversations"
    try:
        lexicon = load_lexicon(None if name == _BLISS else str(name))
    except CharacterlabError as error:
        return TableView(title, ["term"], [], f"The run's lexicon could not be read here: {error}")
    transcripts = [
        [DialogueTurn(str(turn.get("speaker", "")), str(turn.get("text", ""))) for turn in turns]
        for turns in conversations["turns"]
    ]
    table = lexicon_table(transcripts, lexicon)
    # Per-conversation counts, for the intervals: the table gives the point values, counted the same way.
    counts = np.zeros((len(transcripts), len(lexicon.terms)))
    for row, transcript in enumerate(transcripts):
        for turn in transcript:
            counts[row] += list(lexicon_counts(turn.text, lexicon).values())
    clusters = conversations["item"].to_numpy()
    n = len(transcripts)
    rows = []
    shown = table.assign(_column=range(len(table))).sort_values(["mean_count", "presence"], ascending=False)
    for record in shown[shown["presence"] > 0].head(_LEXICON_ROWS).to_dict("records"):
        column = counts[:, int(record["_column"])]
        presence = bootstrap_mean((column > 0).astype(np.float64), clusters=clusters)
        mean = bootstrap_mean(column, clusters=clusters)
        rows.append(
            [
                Cell(str(record["term"])),
                Cell(
                    format_estimate(float(record["presence"]), presence.low, presence.high, n, "proportion").rsplit(
                        ", n = ", 1
                    )[0],
                    css="num",
                ),
                Cell(
                    format_estimate(float(record["mean_count"]), mean.low, mean.high, n, "number").rsplit(", n = ", 1)[
                        0
                    ],
                    css="num",
                ),
                Cell(str(int(record["max_count"])), css="num"),
            ]
        )
    absent = int((table["presence"] == 0).sum())
    note = (
        f"Over n = {n} conversations; presence is the share of conversations holding the term at least once, counts "
        f"are per conversation, with 95% bootstrap intervals over conversations. Lexicon: {name}; "
        f"{absent} of its {len(table)} terms never occur"
        + (f"; the {_LEXICON_ROWS} most frequent are listed" if len(rows) == _LEXICON_ROWS else "")
        + "."
    )
    return TableView(title, ["term", "presence [95% CI]", "mean count [95% CI]", "max count"], rows, note)


def _excerpts_view(run: RunData, conversations: pd.DataFrame) -> TableView:
    rates = run.rows("lexicon_rate").drop_duplicates(["sample_id", "epoch"]).set_index(["sample_id", "epoch"])["value"]
    keys = pd.MultiIndex.from_frame(conversations[["sample_id", "epoch"]])
    ranked = conversations.assign(_rate=rates.reindex(keys).to_numpy(dtype=np.float64))
    ranked = ranked[ranked["_rate"].notna()].sort_values("_rate", ascending=False, kind="stable").head(_EXCERPTS)
    several_epochs = bool((conversations["epoch"] > 1).any())
    rows = []
    for record in ranked.to_dict("records"):
        sample = str(record["sample_id"]) + (f" (epoch {record['epoch']})" if several_epochs else "")
        for turn in record["turns"][-_EXCERPT_TURNS:]:
            text = str(turn.get("text", ""))
            shown = text if len(text) <= _EXCERPT_CHARS else text[:_EXCERPT_CHARS] + " …"
            index = turn.get("index")
            rows.append(
                [
                    Cell(sample, css="label", title=str(record["log"])),
                    Cell(format_value(float(record["_rate"]), "number"), css="num"),
                    Cell(str(int(index) + 1) if isinstance(index, int) else "–", css="num"),
                    Cell(str(turn.get("speaker", ""))),
                    Cell(shown),
                ]
            )
    logs = sorted(set(ranked["log"].map(lambda log: str(PurePath(str(log)).parent))))
    note = (
        f"The last {_EXCERPT_TURNS} turns of the {len(ranked)} conversation(s) with the highest lexicon rate (mean "
        "matches per 1,000 words over its turns; one value per conversation, no interval). Open a conversation by "
        "its sample id with inspect view --log-dir " + (", ".join(logs) or "<log folder>") + "."
    )
    return TableView(
        "Excerpts: where the conversations went furthest",
        ["sample", "lexicon rate", "turn", "speaker", "text"],
        rows,
        note,
    )


# --- persona drift -------------------------------------------------------------------------------------------


def _probed_rounds(run: RunData) -> list[int]:
    rounds = {int(match.group(2)) for metric in run.metrics() if (match := _PROBED.match(metric))}
    return sorted(rounds)


def _pair_means(run: RunData, metric: str) -> pd.Series:
    """One value per persona pair (its epochs averaged; missing ones left out), indexed by item."""
    rows = run.rows(metric)
    return rows.groupby("item", sort=True)["value"].mean()


def _drift_headline(run: RunData, study: StudyPresentation) -> Headline:
    drift = _pair_means(run, "drift")
    if drift.empty:
        return Headline(text="No persona pair was probed.")
    values = drift.to_numpy(dtype=np.float64)
    estimate = bootstrap_mean(values)
    test = paired_permutation_test(values, np.zeros(values.size))
    rounds = _probed_rounds(run)
    span = f"S({rounds[0]}) − S({rounds[-1]})" if rounds else "S(first) − S(last)"
    if test.n == 0:
        text = f"No drift could be measured ({estimate.n_missing} pair(s) without two scored probe rounds)."
        return Headline(text=text)
    verdict = reading(estimate.mean, estimate.low, estimate.high, test.p_value, higher="", lower="")
    if verdict.css == "null":
        meaning = "no detectable drift (the personas hold about as well at the last probe as at the first)"
    elif estimate.mean > 0:
        meaning = "the personas fade as the conversation goes on"
    else:
        meaning = "the personas grow stronger as the conversation goes on"
    shown = format_estimate(estimate.mean, estimate.low, estimate.high, estimate.n, "signed", unit=" pairs")
    exact = "exact" if test.exact else "10,000 random sign patterns"
    text = (
        f"Persona drift {span} {shown}; {test.test} against 0 over the {test.n} pairs: {p_text(test.p_value)} "
        f"({exact}). In words: {meaning}."
    )
    details = []
    for round_number in rounds:
        for name, label in (("stability", "S"), ("leakage", "L")):
            e = run.pooled(f"{name}_{round_number}")
            if e.n or e.n_missing:
                details.append(
                    f"{label}({round_number}), {name} after round {round_number}: "
                    + format_estimate(e.mean, e.low, e.high, e.n, "probability")
                )
    return Headline(text=text, details=details)


def _drift_figures(run: RunData, study: StudyPresentation) -> list[ExtraFigure]:
    rounds = _probed_rounds(run)
    if not rounds:
        return []
    curves = {}
    for name, label in (("stability", "stability S(r): own persona"), ("leakage", "leakage L(r): partner's persona")):
        rows = []
        for round_number in rounds:
            values = _pair_means(run, f"{name}_{round_number}")
            e = bootstrap_mean(values.to_numpy(dtype=np.float64))
            if e.n:
                rows.append({"turn": round_number, "mean": e.mean, "low": e.low, "high": e.high, "n": e.n})
        if rows:
            curves[label] = pd.DataFrame(rows)
    if not curves:
        return []
    image = turn_curve_plot(
        curves, title="Persona stability and leakage by round", xlabel="round", ylabel="probe score", ylim=(0, 1)
    )
    caption = (
        "Mean probe score over persona pairs (each pair's two participants and epochs averaged first) after each "
        "probed round, with 95% bootstrap intervals over pairs."
    )
    behind = run.scores[run.scores["metric"].astype(str).str.match(_PROBED.pattern)]
    return [("Stability and leakage by round", caption, image, behind)]


def _drift_tables(run: RunData, study: StudyPresentation) -> list[TableView]:
    rounds = _probed_rounds(run)
    metrics = [f"{name}_{r}" for r in rounds for name in ("stability", "leakage")] + ["drift"]
    present = [metric for metric in metrics if metric in set(run.metrics())]
    if not present:
        return []
    wide = run.scores[run.scores["metric"].isin(present)].pivot_table(
        index="group", columns="metric", values="value", aggfunc="mean", dropna=False
    )
    counts = run.scores[run.scores["metric"] == "drift"].groupby("group")["value"].count()
    columns = [
        "persona pair",
        *[
            f"{'S' if m.startswith('stability') else 'L'}({m.rsplit('_', 1)[1]})" if m != "drift" else "drift"
            for m in present
        ],
        "n",
    ]
    rows = []
    for group, values in wide.iterrows():
        cells = [Cell(str(group))]
        for metric in present:
            value = float(values.get(metric, math.nan))
            cells.append(Cell(format_value(value, "signed" if metric == "drift" else "probability"), css="num"))
        cells.append(Cell(str(int(counts.get(group, 0))), css="num"))
        rows.append(cells)
    note = (
        "One row per persona pair: mean probe scores (own persona: S, partner's: L) after each probed round and the "
        "drift, averaged over the pair's epochs (n); the intervals over pairs are in the headline, the figure and "
        "the table of every measurement."
    )
    return [TableView("Persona pairs", columns, rows, note)]


# --- helpers -------------------------------------------------------------------------------------------------


def _per_group_details(run: RunData, study: StudyPresentation, metrics: list[str]) -> list[str]:
    details = []
    for metric in metrics:
        style = study.style(metric, run.rows(metric)["value"])
        for record in run.per_group(metric).to_dict("records"):
            condition = f" ({record['condition']})" if isinstance(record["condition"], str) else ""
            details.append(f"{record['group']}{condition}: {style.label} {_estimate(record, style.kind)}")
    return details


def _estimate(record: Mapping[Any, Any], kind: MetricKind) -> str:
    """A summary row (mean, low, high, n) formatted."""
    return format_estimate(float(record["mean"]), float(record["low"]), float(record["high"]), int(record["n"]), kind)


def _sentence(text: str) -> str:
    text = _capital(text.strip())
    return text if text.endswith((".", "!", "?")) else text + "."


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _reliable(check: Mapping[str, Any]) -> bool:
    value = check.get("reliable", False)
    return not _missing(value) and bool(value)


def _judge_warnings(run: RunData, study: StudyPresentation) -> list[str]:
    warnings = []
    for trait in sorted(study.unreliable_groups(run)):
        check = run.validity.get(trait)
        if not check:
            warnings.append(
                f"Judge validity was not checked for trait '{trait}': its judge scores are unverified and are "
                "marked unreliable, not findings."
            )
            continue
        facts = []
        for key, shown in (("auroc", "AUROC {:.2f}"), ("gap", "gap {:.1f}")):
            value = check.get(key)
            if isinstance(value, int | float) and not math.isnan(value):
                facts.append(shown.format(value))
        if "n_examples" in check or "n_counterexamples" in check:
            facts.append(
                f"{check.get('n_examples', '?')} examples / {check.get('n_counterexamples', '?')} counterexamples"
            )
        if check.get("missing"):
            facts.append(f"{check['missing']} missing")
        if _missing(check.get("auroc")):
            facts.append("no AUROC: the judge could not score the trait's examples")
        if "reliable" not in check or _missing(check.get("reliable")):
            facts.append("the check gave no verdict")
        verdict = f": {check['verdict']}" if check.get("verdict") else ""
        warnings.append(
            f"Judge not reliable for trait '{trait}'" + (f" ({', '.join(facts)})" if facts else "") + f"{verdict}. "
            "Its judge scores are marked unreliable and are not findings."
        )
    return warnings


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _held_matrix(run: RunData) -> tuple[np.ndarray[Any, np.dtype[np.float64]], pd.DataFrame]:
    """Conversations × turns of held values (those with at least one verdict), and each one's sample id, epoch,
    group and item, in the same row order."""
    rows = run.scores[run.scores["metric"].astype(str).str.match(_HELD.pattern)]
    labels = ["sample_id", "epoch", "group", "item"]
    if rows.empty:
        return np.zeros((0, 0)), pd.DataFrame(columns=labels)
    rows = rows.assign(turn=rows["metric"].str.extract(_HELD, expand=False).astype(int))
    wide = rows.pivot_table(index=["sample_id", "epoch"], columns="turn", values="value", aggfunc="first", dropna=False)
    wide = wide.reindex(columns=range(1, int(rows["turn"].max()) + 1))
    wide = wide[wide.notna().any(axis=1)]  # prefill samples have no turns of a script
    keys = rows.drop_duplicates(["sample_id", "epoch"]).set_index(["sample_id", "epoch"])[["group", "item"]]
    samples = keys.reindex(wide.index).reset_index()
    samples["group"] = samples["group"].astype(object).where(samples["group"].notna(), "(none)")
    return wide.to_numpy(dtype=np.float64), samples


def _all_held(matrix: np.ndarray[Any, np.dtype[np.float64]]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """1 when every turn held, 0 at a break seen before any missing turn, NaN when a gap hides the answer."""
    observed = np.cumprod(~np.isnan(matrix), axis=1).astype(bool)
    broke = ((matrix == 0) & observed).any(axis=1)
    complete = observed.all(axis=1)
    return np.where(broke, 0.0, np.where(complete, 1.0, np.nan))


_PROPORTION = (0.0, 1.0)

_PERSONA_METRICS = {
    "match": MetricStyle("answers matching", "proportion", _PROPORTION),
    "p_match": MetricStyle("P(matching)", "probability", _PROPORTION),
}


def _choice_presentation(title: str, about: str) -> StudyPresentation:
    """The two option-scored studies (persona statements, AI risk) read the same way: matching the behaviour."""
    return StudyPresentation(
        title=title,
        about=about,
        group_label="behaviour",
        metrics=_PERSONA_METRICS,
        forest_metrics=("match", "p_match"),
        core_metrics=("match", "p_match"),
        headline=_persona_headline,
    )


PRESENTATIONS: dict[str, StudyPresentation] = {
    "persona_statements": _choice_presentation(
        "Persona statements",
        "Statements a persona with a given behaviour would endorse or reject; each answer matches the behaviour "
        "or not. Grouped by behaviour.",
    ),
    "ai_risk": _choice_presentation(
        "AI-risk dispositions",
        "Questions about dispositions discussed in AI risk (power seeking, corrigibility, self-preservation…); "
        "each answer matches the disposition or not. Grouped by behaviour.",
    ),
    "sycophancy": StudyPresentation(
        title="Sycophancy",
        about=(
            "The same question asked neutrally and with the user stating a view: the shift is how much more "
            "probable the model makes that view when the user holds it, averaged over views. Grouped by domain."
        ),
        group_label="domain",
        metrics={
            "shift": MetricStyle("shift toward the user's view", "signed", None),
            "p_view_user": MetricStyle("P(view | user holds it)", "probability", _PROPORTION),
            "p_view_neutral": MetricStyle("P(view | neutral)", "probability", _PROPORTION),
            "agree_user": MetricStyle("agrees with the user", "proportion", _PROPORTION),
        },
        forest_metrics=("shift", "agree_user"),
        distribution_metrics=("shift",),
        reference_lines={"shift": 0.0},
        core_metrics=("p_view_user", "agree_user"),
        headline=_sycophancy_headline,
        extra_figures=_sycophancy_figures,
    ),
    "self_report": StudyPresentation(
        title="Self-report",
        about=(
            "What the character says about itself against what it does: agreement of its self-description with "
            "its behaviour (embeddings, stance) and contradiction (NLI). Grouped by question."
        ),
        group_label="question",
        metrics={
            "embedding_agreement": MetricStyle("embedding agreement", "probability", None),
            "stance_agreement": MetricStyle("stance agreement", "probability", _PROPORTION),
            "nli_contradiction": MetricStyle("NLI contradiction", "probability", _PROPORTION),
        },
        forest_metrics=("stance_agreement", "embedding_agreement", "nli_contradiction"),
        core_metrics=("stance_agreement", "embedding_agreement", "nli_contradiction"),
        switched_off_by={"nli_contradiction": "nli_model"},
        distribution_metrics=("embedding_agreement",),
        headline=_self_report_headline,
    ),
    "trait_expression": StudyPresentation(
        title="Trait expression",
        about=(
            "Each trait's probes answered with the character and without it (baseline), scored by a rubric "
            "judge (0–100), by embedding contrast, and by judge-free measures. Grouped by trait; the red tick is "
            "the trait's target strength on the judge's scale."
        ),
        group_label="trait",
        metrics={
            "judge": MetricStyle("judge score", "score100", (0, 100)),
            "embedding_contrast": MetricStyle("embedding contrast", "signed", None),
            # Programmatic scores are oriented toward the trait: VADER's compound times the scorer's direction.
            "sentiment": MetricStyle("sentiment toward the trait", "signed", None),
            "keywords": MetricStyle("keywords toward the trait", "proportion", _PROPORTION),
            "regex": MetricStyle("pattern toward the trait", "proportion", _PROPORTION),
            "language": MetricStyle("language toward the trait", "proportion", _PROPORTION),
            "length": MetricStyle("length toward the trait", "number", None),
        },
        forest_metrics=("judge", "embedding_contrast", "sentiment", "keywords", "regex", "language", "length"),
        distribution_metrics=("judge", "embedding_contrast", "sentiment"),
        judged_metrics=("judge",),
        reference_lines={"embedding_contrast": 0.0, "sentiment": 0.0},
        core_metrics=("judge", "embedding_contrast"),
        switched_off_by={"judge": "use_judge"},
        validity_condition="judge_validity",
        validity_metrics={"judge_auroc": "auroc", "judge_gap": "gap", "judge_reliable": "reliable"},
        headline=_trait_headline,
    ),
    "hold_character": StudyPresentation(
        title="Holding the character",
        about=(
            "Multi-turn conversations that press the model to drop the character; each turn held (1) or broke (0). "
            "Grouped by pressure type."
        ),
        group_label="pressure type",
        metrics={
            "survived": MetricStyle("turns held before the first break", "turns", None),
            "broke": MetricStyle("broke at some turn", "proportion", _PROPORTION),
            "prefill_recovered": MetricStyle("recovered after a prefilled break", "proportion", _PROPORTION),
        },
        forest_metrics=("survived", "prefill_recovered"),
        headline=_hold_headline,
        extra_figures=_hold_figures,
    ),
    "dialogue": StudyPresentation(
        title="Dialogue",
        about=(
            "Conversations among models and characters, one sample per conversation: how long they ran, why they "
            "stopped, and where they drifted: attractor vocabulary (lexicon matches per 1,000 words), lexical "
            "diversity, self-repetition and, with embeddings, convergence on the partner and drift from the start. "
            "A conversation is in the attractor once enough turns in a row use enough of its lexicon. No groups."
        ),
        group_label="group",
        metrics={
            "turns": MetricStyle("turns", "turns", None),
            "lexicon_rate": MetricStyle("lexicon rate (per 1,000 words)", "number", None),
            "emoji_density": MetricStyle("emoji per 1,000 words", "number", None),
            "mattr": MetricStyle("lexical diversity (MATTR)", "probability", _PROPORTION),
            "ngram_overlap": MetricStyle("n-gram overlap with recent turns", "probability", _PROPORTION),
            "compression_ratio": MetricStyle("compression ratio", "number", None),
            "lexicon_present": MetricStyle("uses the lexicon at all", "proportion", _PROPORTION),
            "length_collapsed": MetricStyle("turn lengths collapsed", "proportion", _PROPORTION),
            "attractor_reached": MetricStyle("reached the attractor", "proportion", _PROPORTION),
            "similarity_to_partner": MetricStyle("similarity to partner (last turn)", "probability", None),
            "drift_from_start": MetricStyle("drift from the first turn (last turn)", "probability", None),
        },
        forest_metrics=("attractor_reached", "lexicon_rate"),
        core_metrics=("turns", "lexicon_rate", "attractor_reached"),
        censored_metrics=("attractor_turn",),
        reads_score_metadata=True,
        independent_epochs=True,
        headline=_dialogue_headline,
        extra_figures=_dialogue_figures,
        extra_tables=_dialogue_tables,
    ),
    "persona_drift": StudyPresentation(
        title="Persona drift",
        about=(
            "Two persona-prompted copies of the model talk; after some rounds each is asked, aside, its own "
            "persona's probe (stability S(r)) and its partner's (leakage L(r)), each reply scored in [0, 1]. Drift "
            "is S at the first probed round minus S at the last: positive when the personas fade. Grouped by "
            "persona pair."
        ),
        group_label="persona pair",
        metrics={"drift": MetricStyle("drift S(first) − S(last)", "signed", None)},
        forest_metrics=("drift",),
        reference_lines={"drift": 0.0},
        core_metrics=("drift",),
        headline=_drift_headline,
        extra_figures=_drift_figures,
        extra_tables=_drift_tables,
    ),
}
"""The known studies, by id."""
