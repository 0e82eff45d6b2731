"""What the ``probes best-of-n`` and ``probes compare`` commands add to the library's results and show: the tests and
intervals beside them, and their pages.

numpy, pandas and the figures are imported inside the functions, so that the command line starts quickly.
"""

from __future__ import annotations

import html
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from characterlab.analysis import Estimate, PairedTest
    from characterlab.interp import BestOfN, BestOfNPoint, LayerProbe

__all__ = [
    "ArrangementStatistic",
    "Arrangements",
    "BestOfNReport",
    "RelativeStates",
    "arrangement_statistics",
    "best_of_n_page",
    "compare_page",
    "estimate_text",
    "interval_text",
    "number_text",
    "paired_tests",
]

_PAGE_STYLE = """body { font-family: system-ui, sans-serif; max-width: 980px; margin: 2rem auto; padding: 0 1rem;
color: #1f2328; } svg.figure { width: 100%; height: auto; } table { border-collapse: collapse; margin: 1rem 0; }
th, td { padding: 0.25rem 0.6rem; border-bottom: 1px solid #d0d7de; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; } .note { color: #59636e; }
.pick { font-weight: 600; }"""


@dataclass(frozen=True)
class BestOfNReport:
    """What the best-of-N page shows."""

    character: str
    model: str
    block: int
    training: list[str]
    held_out: list[str]
    result: BestOfN
    tests: list[PairedTest]
    decodable: LayerProbe
    folds: int
    checked_by: str
    judged: bool
    probe_scores: np.ndarray
    """``(questions, max N)``: the probe's score of every candidate."""
    checked: np.ndarray
    """``(questions, max N)``: the checker's score of every candidate (NaN: missing)."""
    settings: str


@dataclass(frozen=True)
class RelativeStates:
    """One model's relative representations of the characters' replies."""

    name: str
    block: int
    relative: np.ndarray
    """``(characters, questions, anchors)``: each reply's cosine similarity to each anchor's state."""


@dataclass(frozen=True)
class ArrangementStatistic:
    """One statistic of :func:`compare_arrangements`, with its interval and its permutation test."""

    name: str
    meaning: str
    value: float
    low: float
    high: float
    chance: float
    """Its mean when the second model's characters are matched to the first's at random."""
    p_value: float
    """One-sided: the share of random matchings that do at least as well (NaN when the statistic is undefined)."""
    n: int
    """Characters compared."""


@dataclass(frozen=True)
class Arrangements:
    """The comparison of two models' arrangements, and each model's character-by-character similarities."""

    rows: list[ArrangementStatistic]
    similarities: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]
    """Per model: the ``(characters, characters)`` cosine similarities of the characters' relative
    representations, and their interval's lower and upper ends."""
    interval_method: str
    test: str


_STATISTICS = {
    "similarity": "mean cosine similarity of each character's two relative representations (1: identical)",
    "retrieval": "share of characters whose nearest in the other model is themselves",
    "structure": "correlation of the two models' character-by-character similarities (are the same ones close?)",
}


_EXACT_MATCHINGS = 5040  # 7 characters: every matching is enumerated; more are sampled


_SAMPLED_MATCHINGS = 5000


def paired_tests(
    points: Sequence[BestOfNPoint], probe_scores: np.ndarray, checked: np.ndarray, *, seed: int
) -> list[PairedTest]:
    """Each N's sign-flip test of a zero gain, on the picks :func:`best_of_n` made (from the scores it was given)."""
    import numpy as np

    from characterlab.analysis import paired_permutation_test

    rows = np.arange(checked.shape[0])
    tests = []
    for point in points:
        picked = checked[rows, np.argmax(probe_scores[:, : point.n], axis=1)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # every candidate of a question missing: NaN, dropped
            random = np.nanmean(checked[:, : point.n], axis=1)
        tests.append(paired_permutation_test(picked, random, seed=seed))
    return tests


def arrangement_statistics(first: np.ndarray, second: np.ndarray, *, resamples: int, seed: int) -> Arrangements:
    """:func:`compare_arrangements` of the characters' mean relative representations, with intervals over
    questions and a permutation test over which character is which."""
    import itertools

    import numpy as np

    characters, questions = first.shape[0], first.shape[1]
    first_mean, second_mean = first.mean(axis=1), second.mean(axis=1)
    observed = _match(first_mean, second_mean)
    rng = np.random.default_rng(seed)
    similarities = (_similarities(first_mean), _similarities(second_mean))
    if questions >= 2:
        draws, first_draws, second_draws = [], [], []
        for _ in range(resamples):
            chosen = rng.integers(0, questions, size=questions)
            a, b = first[:, chosen].mean(axis=1), second[:, chosen].mean(axis=1)
            draws.append(_match(a, b))
            first_draws.append(_similarities(a))
            second_draws.append(_similarities(b))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # structure is undefined for two characters
            low, high = np.nanpercentile(np.asarray(draws), [2.5, 97.5], axis=0)
        bands = [np.percentile(np.asarray(d), [2.5, 97.5], axis=0) for d in (first_draws, second_draws)]
        interval_method = f"95% percentile bootstrap over the {questions} questions ({resamples} resamples)"
    else:
        low = high = np.full(3, np.nan)
        bands = [np.full((2, characters, characters), np.nan)] * 2
        interval_method = "no interval: one question"
    if math.factorial(characters) <= _EXACT_MATCHINGS:
        matchings = [list(order) for order in itertools.permutations(range(characters))]
        test = f"one-sided permutation test over all {len(matchings)} matchings of the characters"
    else:  # the observed matching counts as one of the sample, so a p-value is never 0
        matchings = [list(range(characters))]
        matchings += [list(rng.permutation(characters)) for _ in range(_SAMPLED_MATCHINGS)]
        test = f"one-sided permutation test over {_SAMPLED_MATCHINGS} random matchings of the characters"
    null = np.asarray([_match(first_mean, second_mean[order]) for order in matchings])
    tolerance = 1e-12
    rows = []
    for column, (name, meaning) in enumerate(_STATISTICS.items()):
        value = float(observed[column])
        defined = not math.isnan(value)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            chance = float(np.nanmean(null[:, column])) if defined else math.nan
        rows.append(
            ArrangementStatistic(
                name=name,
                meaning=meaning,
                value=value,
                low=float(low[column]),
                high=float(high[column]),
                chance=chance,
                p_value=float(np.mean(null[:, column] >= value - tolerance)) if defined else math.nan,
                n=characters,
            )
        )
    return Arrangements(
        rows=rows,
        similarities=(
            (similarities[0], bands[0][0], bands[0][1]),
            (similarities[1], bands[1][0], bands[1][1]),
        ),
        interval_method=interval_method,
        test=test + " (Mantel-type for structure)",
    )


def _match(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Similarity, retrieval and structure of :func:`compare_arrangements` (structure NaN for two characters)."""
    import numpy as np

    from characterlab.interp import compare_arrangements

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a correlation of one pair (two characters) is undefined
        match = compare_arrangements(first, second)
    return np.array([match.similarity, match.retrieval, match.structure])


def _similarities(relative: np.ndarray) -> np.ndarray:
    """The characters' cosine similarities to each other, from their relative representations."""
    import numpy as np

    unit = relative / np.linalg.norm(relative, axis=1, keepdims=True)
    return np.asarray(unit @ unit.T)


def estimate_text(estimate: Estimate) -> str:
    return interval_text(estimate.mean, estimate.low, estimate.high)


def interval_text(value: float, low: float, high: float) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isnan(low) or math.isnan(high):
        return f"{value:.3f} [interval n/a]"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def number_text(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def _page(title: str, body: str) -> str:
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="generator" content="characterlab">
<title>{html.escape(title)}</title><style>{_PAGE_STYLE}</style></head>
<body><h1>{html.escape(title)}</h1>
{body}
</body></html>
"""


def best_of_n_page(report: BestOfNReport) -> str:
    """The page of ``probes best-of-n``: the probe, the gain by N, the cost per candidate, the candidates."""
    import numpy as np
    import pandas as pd

    from characterlab.analysis import turn_curve_plot

    result, probe = report.result, report.decodable

    def curve(estimates: Sequence[Estimate]) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {"turn": point.n, "mean": e.mean, "low": e.low, "high": e.high, "n": e.n}
                for point, e in zip(result.points, estimates, strict=True)
            ]
        )

    picks = turn_curve_plot(
        {
            "probe's pick": curve([point.probe_pick for point in result.points]),
            "random pick": curve([point.random_pick for point in result.points]),
        },
        title="Checking score of the pick by N (95% bootstrap interval over questions)",
        xlabel="N (candidates per question)",
        ylabel="checking score",
    )
    gains = turn_curve_plot(
        {"gain": curve([point.gain for point in result.points])},
        title="Probe's pick minus random pick by N (95% bootstrap interval over questions)",
        xlabel="N (candidates per question)",
        ylabel="gain",
    )
    rows = "".join(
        f"<tr><td class=number>{point.n}</td><td class=number>{estimate_text(point.probe_pick)}</td>"
        f"<td class=number>{estimate_text(point.random_pick)}</td><td class=number>{estimate_text(point.gain)}</td>"
        f"<td class=number>{number_text(test.p_value)}</td><td class=number>n={point.gain.n}</td>"
        f"<td class=number>{point.gain.n_missing}</td></tr>"
        for point, test in zip(result.points, report.tests, strict=True)
    )
    ratio = result.check_seconds / result.probe_seconds if result.probe_seconds > 0 else math.nan
    most = report.probe_scores.shape[1]
    candidates = []
    for index, question in enumerate(report.held_out):
        best = int(np.argmax(report.probe_scores[index]))
        items = "".join(
            f"<tr{' class=pick' if k == best else ''}><td class=number>{k + 1}</td>"
            f"<td class=number>{report.probe_scores[index, k]:.3f}</td>"
            f"<td class=number>{number_text(float(report.checked[index, k]))}</td><td>{html.escape(text)}</td></tr>"
            for k, text in enumerate(result.candidates[index])
        )
        candidates.append(
            f"<details><summary>{html.escape(question)}</summary><table><tr><th>#</th><th>probe</th><th>check</th>"
            f"<th>reply</th></tr>{items}</table></details>"
        )
    checker_note = (
        "A judge model checks the picks."
        if report.judged
        else "<strong>Judge-free checker</strong> (no --checker given): it stands in for a text scorer, and a judge "
        "model would cost more per candidate."
    )
    unscored = (
        f"<p><strong>The checker scored none of the {report.checked.size} candidates</strong>: nothing to compare.</p>"
        if np.isnan(report.checked).all()
        else ""
    )
    body = f"""<p>Model: {html.escape(report.model)}; probe at block {report.block}. {report.settings}.
Questions: {len(report.training)} train the probe, {len(report.held_out)} are held out for picking (every second
question).</p>
<h2>1. The probe</h2>
<p>A logistic-regression probe on the mean state over each reply's tokens, trained on {html.escape(report.character)}
staged against the model's default persona ({2 * len(report.training)} replies to the {len(report.training)}
training questions). How well a probe at this block tells the two apart on questions it never saw
({min(report.folds, probe.groups)} folds by question over all {probe.groups} questions): held-out AUROC
{interval_text(probe.auroc, probe.low, probe.high)} (95% cluster-bootstrap interval over questions; n={probe.n}
replies, {probe.groups} questions); with shuffled labels {number_text(probe.shuffled)}.</p>
<h2>2. Gain over a random pick as N grows</h2>
<p>For each held-out question {most} replies are sampled as the character, once; for each N the probe picks among
the first N. Checked by {html.escape(report.checked_by)}. {checker_note} The random pick's score is the mean over
the N candidates (its expected value).</p>{unscored}
{picks}{gains}
<table><tr><th>N</th><th>probe's pick [95% CI]</th><th>random pick [95% CI]</th><th>gain [95% CI]</th><th>p</th>
<th>questions</th><th>missing</th></tr>{rows}</table>
<p class=note>Intervals: {html.escape(result.points[0].gain.method)}. p: {html.escape(report.tests[0].test)},
two-sided, of a zero mean gain, paired by question (questions with a missing score dropped). A probe that is
being gamed (high scores, no better replies) shows as no gain.</p>
<h2>3. Cost per candidate</h2>
<table><tr><th>scoring</th><th>seconds per candidate</th></tr>
<tr><td>probe (from the states the generation captured anyway)</td>
<td class=number>{result.probe_seconds:.3g}</td></tr>
<tr><td>checker ({"judge" if report.judged else "embedding contrast"}, one candidate at a time)</td>
<td class=number>{result.check_seconds:.3g}</td></tr></table>
<p>The checker costs {number_text(ratio) if math.isnan(ratio) else f"{ratio:,.0f}×"} the probe per candidate
(n={report.probe_scores.size} candidates, one timing each; generation, which both share, is not counted).</p>
<h2>4. Candidates</h2>
<p class=note>Each held-out question's candidates with the probe's and the checker's score; the probe's pick
among all {most} is in bold.</p>
{"".join(candidates)}"""
    return _page(f"Best of N by a probe: {report.character}", body)


def compare_page(
    names: Sequence[str],
    first: RelativeStates,
    second: RelativeStates,
    arrangements: Arrangements,
    questions: Sequence[str],
    anchors: Sequence[str],
    max_tokens: int,
) -> str:
    """The page of ``probes compare``: the three statistics with intervals and tests, and both arrangements."""
    import pandas as pd

    from characterlab.analysis import forest_plot

    summary = pd.DataFrame(
        [{"statistic": s.name, "mean": s.value, "low": s.low, "high": s.high, "n": s.n} for s in arrangements.rows]
    )
    figure = forest_plot(
        summary,
        label="statistic",
        references={s.name: s.chance for s in arrangements.rows if not math.isnan(s.chance)},
        reference_label="chance: characters matched at random",
        title="How alike the two models arrange the characters (95% bootstrap interval over questions)",
        value_format="{:.3f}",
    )
    rows = "".join(
        f"<tr><td>{s.name}</td><td>{html.escape(s.meaning)}</td>"
        f"<td class=number>{interval_text(s.value, s.low, s.high)}</td>"
        f"<td class=number>{number_text(s.chance)}</td><td class=number>{number_text(s.p_value)}</td>"
        f"<td class=number>n={s.n}</td></tr>"
        for s in arrangements.rows
    )
    matrices = []
    for states, (values, lows, highs) in zip((first, second), arrangements.similarities, strict=True):
        header = "".join(f"<th>{html.escape(name)}</th>" for name in names)
        body_rows = "".join(
            f"<tr><th>{html.escape(name)}</th>"
            + "".join(
                f"<td class=number>{interval_text(float(values[i, j]), float(lows[i, j]), float(highs[i, j]))}</td>"
                for j in range(len(names))
            )
            + "</tr>"
            for i, name in enumerate(names)
        )
        matrices.append(
            f"<h3>{html.escape(states.name)}, block {states.block}</h3><table><tr><th></th>{header}</tr>"
            f"{body_rows}</table>"
        )
    anchor_items = "".join(f"<li>{html.escape(anchor)}</li>" for anchor in anchors)
    question_items = "".join(f"<li>{html.escape(question)}</li>" for question in questions)
    body = f"""<p>Characters: {html.escape(", ".join(names))}. Models: {html.escape(first.name)} (block
{first.block}) and {html.escape(second.name)} (block {second.block}). {len(questions)} questions,
{len(anchors)} anchor prompts, at most {max_tokens} tokens a reply.</p>
<p>Relative representations (Moschella et al. 2022): each model answers every question as every character; each
reply's state (the mean over its tokens at the block) becomes its cosine similarity to the states of the same
anchor prompts, answered by the same model as its default persona. Those coordinates mean the same in both
models, whatever their widths. A character is the mean over its replies.</p>
<h2>How alike are the two arrangements?</h2>
{figure}
<table><tr><th>statistic</th><th>what it is</th><th>value [95% CI]</th><th>chance</th><th>p</th><th>characters</th>
</tr>{rows}</table>
<p class=note>Intervals: {html.escape(arrangements.interval_method)}. p: {html.escape(arrangements.test)}: the
share of matchings of the second model's characters to the first's that do at least as well. Chance: the mean over
those matchings. Structure needs three characters or more.</p>
<h2>Each model's arrangement</h2>
<p class=note>Cosine similarity of the characters' relative representations (95% bootstrap interval over
questions).</p>
{"".join(matrices)}
<details><summary>Anchor prompts ({len(anchors)})</summary><ul>{anchor_items}</ul></details>
<details><summary>Questions ({len(questions)})</summary><ul>{question_items}</ul></details>"""
    return _page("Do two models arrange the same characters alike?", body)
