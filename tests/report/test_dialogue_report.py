"""The report's sections for model-to-model dialogues and for persona drift."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from inspect_ai.log import EvalLog

from bench.report_build import synthetic_log, write_synthetic_logs
from characterlab.analysis import paired_permutation_test, score_metadata_table, scores_table, turn_curve_plot
from characterlab.report import build_study_report

NAN = float("nan")


def _located(log: EvalLog, path: Path) -> EvalLog:
    log.location = str(path)
    return log


def _section(page: str, study: str) -> str:
    start = page.index(f'id="study-{study}"')
    end = page.find('<section id="', start + 1)
    return page[start : end if end != -1 else len(page)]


@pytest.fixture(scope="module")
def dialogue_page(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("dialogue")
    return build_study_report([_located(synthetic_log("dialogue", samples=30), folder / "dialogue.eval")])


def test_the_dialogue_headline_names_n_the_attractor_share_and_the_stop_reasons(dialogue_page: str) -> None:
    summary = dialogue_page[dialogue_page.index('id="summary"') : dialogue_page.index('id="study-')]
    assert "Dialogue" in summary
    assert re.search(r"30 conversations; reached the attractor in \d+% \[\d+%, \d+%\], n = 30", summary)
    assert re.search(r"mean lexicon rate [\d.]+ \[[\d.]+, [\d.]+\], n = 30", summary)
    assert "stopped by max_turns (" in summary


def test_the_dialogue_section_has_its_curves_survival_lexicon_and_excerpts(dialogue_page: str) -> None:
    section = _section(dialogue_page, "dialogue")
    for title in (
        "Lexicon rate per turn",
        "Lexical diversity per turn",
        "Words per turn",
        "Embedding convergence and drift per turn",
        "Time to attractor",
    ):
        assert f'aria-label="{title}"' in section
    assert "fraction not yet in the attractor" in section  # the survival figure itself
    assert "Lexicon terms across conversations" in section and "presence [95% CI]" in section
    assert "Excerpts: where the conversations went furthest" in section
    assert re.search(r"dial-\d{5}", section)  # excerpts name their sample ids


def test_the_excerpts_quote_the_conversations_with_the_highest_lexicon_rate(tmp_path: Path) -> None:
    log = synthetic_log("dialogue", samples=12, seed=4)
    scores = scores_table([_located(log, tmp_path / "d.eval")])
    rates = scores[scores["metric"] == "lexicon_rate"].sort_values("value", ascending=False)
    top, bottom = rates["sample_id"].iloc[0], rates["sample_id"].iloc[-1]
    page = build_study_report([log])
    excerpts = page[page.index("Excerpts: where the conversations went furthest") :]
    excerpts = excerpts[: excerpts.index("</table>")]
    assert top in excerpts and bottom not in excerpts


def test_model_text_in_a_conversation_is_escaped(tmp_path: Path) -> None:
    log = synthetic_log("dialogue", samples=6)
    assert log.samples is not None
    for sample in log.samples:
        score = next(iter((sample.scores or {}).values()))
        assert score.metadata is not None
        score.metadata["turns"][-1]["text"] = "<script>alert('bliss')</script> gratitude gratitude"
        score.value["lexicon_rate"] = 500.0  # type: ignore[index]
    page = build_study_report([_located(log, tmp_path / "d.eval")])
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#39;bliss&#39;)&lt;/script&gt; gratitude gratitude" in page


def test_a_run_that_never_reached_the_attractor_says_so(tmp_path: Path) -> None:
    log = synthetic_log("dialogue", samples=10, effect=0.0)
    assert log.samples is not None
    for sample in log.samples:
        values = next(iter((sample.scores or {}).values())).value
        assert isinstance(values, dict)
        assert math.isnan(values["attractor_turn"]) and values["attractor_reached"] == 0.0
    page = build_study_report([_located(log, tmp_path / "never.eval")])
    section = _section(page, "dialogue")
    assert "none reached the attractor within 10 turns (0 of 10)" in page
    assert "0 of 10 conversations reached it" in section and "the curve stays at 100%" in section
    # Never reaching it is a finding, not a failed measurement.
    assert "No attractor_turn value at all" not in page


def test_score_metadata_table_reads_what_the_scorer_recorded(tmp_path: Path) -> None:
    log = _located(synthetic_log("dialogue", samples=5), tmp_path / "d.eval")
    table = score_metadata_table([log], studies=["dialogue"])
    assert len(table) == 5 and list(table["sample_id"]) == [f"dial-{i:05d}" for i in range(5)]
    first = table["metadata"].iloc[0]
    assert {"turns", "stop_reason", "speakers", "turn_metrics"} <= set(first)
    assert len(first["turn_metrics"]) == len(first["turns"])
    assert score_metadata_table([log], studies=["sycophancy"]).empty


def test_turn_curve_plot_writes_each_series_n(tmp_path: Path) -> None:
    import pandas as pd

    curve = pd.DataFrame({"turn": [1, 2, 3], "mean": [1.0, 2.0, 3.0], "low": [0.5, 1.5, 2.5], "high": [1.5, 2.5, 3.5]})
    image = turn_curve_plot(
        {"steady": curve.assign(n=[8, 8, 8]), "dropping": curve.assign(n=[8, 6, 5])}, title="<b>t</b>"
    )
    assert image.startswith("<svg") and "steady (n=8)" in image and "dropping (n=5–8)" in image
    assert "<b>t</b>" not in image  # matplotlib escapes its text


def test_the_persona_drift_test_names_its_test_and_n(tmp_path: Path) -> None:
    log = synthetic_log("persona_drift", samples=20)
    page = build_study_report([_located(log, tmp_path / "p.eval")])
    scores = scores_table([log])
    drift = scores[scores["metric"] == "drift"].groupby("item")["value"].mean().to_numpy(dtype=np.float64)
    test = paired_permutation_test(drift, np.zeros(drift.size))
    p_shown = "p < 0.001" if test.p_value < 0.001 else f"p = {test.p_value:.3f}"
    summary = page[page.index('id="summary"') : page.index('id="study-')]
    assert f"paired sign-flip permutation test against 0 over the 5 pairs: {p_shown}" in summary
    assert re.search(r"Persona drift S\(2\) − S\(8\) \+[\d.]+ \[\+[\d.]+, \+[\d.]+\], n = 5 pairs", summary)
    section = _section(page, "persona-drift")
    assert 'aria-label="Stability and leakage by round"' in section
    assert "Persona pairs" in section and "pirate+poet" in section and "S(8)" in section and "L(2)" in section
    assert "stability after round 4" in section  # the inferred labels of the per-round metrics


def test_epochs_of_one_opener_are_independent_conversations(tmp_path: Path) -> None:
    # A self-conversation from one opener, held 12 times: 12 clusters, so the headline has an interval.
    log = synthetic_log("dialogue", samples=12, seed=2)
    assert log.samples is not None
    for epoch, sample in enumerate(log.samples, start=1):
        sample.id, sample.epoch = "opener_1", epoch
        sample.metadata = {**(sample.metadata or {}), "item": "opener_1"}
    page = build_study_report([_located(log, tmp_path / "one-opener.eval")])
    summary = page[page.index('id="summary"') : page.index('id="study-')]
    assert re.search(r"mean lexicon rate [\d.]+ \[[\d.]+, [\d.]+\], n = 12", summary)


def test_judge_labelled_phases_get_their_transition_table(tmp_path: Path) -> None:
    log = synthetic_log("dialogue", samples=2)
    assert log.samples is not None
    log.eval.metadata["characterlab"]["settings"]["phases"] = ["talk", "bliss"]  # type: ignore[index]
    sequences = [["talk", "talk", "bliss", "bliss"], ["talk", "bliss", None, "bliss"]]
    for sample, sequence in zip(log.samples, sequences, strict=True):
        for score in (sample.scores or {}).values():
            score.metadata = {**(score.metadata or {}), "phases": sequence}
    section = _section(build_study_report([_located(log, tmp_path / "phases.eval")]), "dialogue")
    table = section[section.index("Phases and their transitions") :]
    # talk → talk once, talk → bliss twice (3 transitions from talk); bliss → bliss once, never bliss → talk.
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", table)
    assert cells[:8] == ["talk", "3", "33%", "67%", "bliss", "4", "0%", "100%"]
    assert "1 of 8 turns could not be placed" in table


def test_two_model_pairs_are_compared_on_the_same_conversations(tmp_path: Path) -> None:
    write_synthetic_logs(tmp_path, samples=20, studies=["dialogue"], created=datetime.now(UTC) - timedelta(1))
    write_synthetic_logs(tmp_path, samples=20, studies=["dialogue"], seed=7, model="mockllm/other", effect=3.0)
    section = _section(build_study_report([tmp_path]), "dialogue")
    comparison = section[section.index('id="study-dialogue-compare-1"') :]
    assert "Run 2 against run 1, paired on sample id and epoch" in comparison
    assert "Paired sign-flip permutation test" in comparison
