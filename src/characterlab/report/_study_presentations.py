"""How each known study is presented: its metrics, its figures, and its headline in words.

The report reads logs and never imports ``characterlab.studies``: what it knows about a study lives here, keyed by
the study id, and an unknown study falls back to a generic presentation (every metric summarized per group).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from characterlab.analysis import (
    Estimate,
    bootstrap_mean,
    forest_plot,
    paired_permutation_test,
    survival_curve,
    survival_plot,
)
from characterlab.report._study_views import (
    Headline,
    MetricKind,
    format_difference,
    format_estimate,
    p_text,
    reading,
)

__all__ = ["PRESENTATIONS", "ExtraFigure", "MetricStyle", "RunData", "StudyPresentation", "presentation_of"]

_HELD = re.compile(r"^held_(\d+)$")
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
    headline: Callable[[RunData, StudyPresentation], Headline] | None = None
    extra_figures: Callable[[RunData, StudyPresentation], list[ExtraFigure]] | None = None

    def style(self, metric: str, values: pd.Series | None = None) -> MetricStyle:
        """The style of a metric: declared, or inferred from its name (``held_3``) and values."""
        if metric in self.metrics:
            return self.metrics[metric]
        if _HELD.match(metric):
            return MetricStyle(f"held at turn {metric.removeprefix('held_')}", "proportion", (0, 1))
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
}
"""The known studies, by id."""
