"""The study report: every study's section, warnings first, nulls read as nulls, runs compared, nothing fetched."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from inspect_ai.log import EvalLog
from inspect_ai.scorer import Score

from bench.report_build import STUDIES, synthetic_log, write_synthetic_logs
from characterlab.report import build_study_report, write_study_report

NAN = float("nan")


@pytest.fixture(scope="module")
def every_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("runs")
    write_synthetic_logs(folder, samples=40, created=datetime.now(UTC) - timedelta(hours=1))
    return folder, build_study_report([folder])


def _located(log: EvalLog, path: str) -> EvalLog:
    log.location = path
    return log


def test_every_study_has_a_section_and_a_summary_line(every_study: tuple[Path, str]) -> None:
    _, page = every_study
    summary = page.index('id="summary"')
    for study in STUDIES:
        anchor = f'id="study-{study.replace("_", "-")}"'
        assert anchor in page and page.index(anchor) > summary
    assert page.count('class="card run"') == len(STUDIES)
    assert "Sycophancy index" in page and "Never broke character" in page and "Answers matching each behaviour" in page


def test_the_page_is_self_contained(every_study: tuple[Path, str]) -> None:
    _, page = every_study
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert not re.search(r"url\((?!#)", page)  # only references inside an SVG (its clip paths)
    assert page.count("<svg") >= 20  # figures are inline


def test_judge_validity_warnings_come_first(every_study: tuple[Path, str]) -> None:
    _, page = every_study
    summary = page[page.index('id="summary"') : page.index('id="study-')]
    trait_line = summary[summary.index("Trait expression") :]
    warning = trait_line.index("Judge not reliable for trait &#39;wit&#39;")
    assert warning < trait_line.index("Judge score, character vs baseline")
    assert "(traits with a reliable judge)" in trait_line
    section = page[page.index('id="study-trait-expression"') :]
    assert "unreliable" in section and "wit  (not reliable)" in section  # greyed in the forest plots
    assert "judge unreliable: not a finding" in section


def test_every_figure_lists_its_samples_with_how_to_open_them(every_study: tuple[Path, str]) -> None:
    folder, page = every_study
    assert page.count("sample(s) behind this figure") >= 20
    assert f"inspect view --log-dir {folder}" in page
    assert "sycophancy-0.eval" in page and "syco-00007" in page


def test_settings_data_files_and_missing_rates_are_shown(every_study: tuple[Path, str]) -> None:
    _, page = every_study
    assert "settings.seeds" in page and "settings.temperature" in page and "settings.frame" in page
    assert "data/trait_expression.jsonl" in page and "missing field" in page  # skipped lines, with their reason
    assert "Missing in this study:" in page and "measurements missing" in page
    assert "95% interval" in page and "n=" in page


def test_a_difference_whose_interval_includes_zero_is_a_null(tmp_path: Path) -> None:
    log = synthetic_log("trait_expression", samples=60, effect=0.0, seed=5)
    page = build_study_report([_located(log, str(tmp_path / "null.eval"))])
    table = page[page.index("Character against baseline, paired by item") :]
    assert "no detectable difference" in table
    # With no effect simulated nothing may be called an effect (a chance one would need its interval off 0 and
    # Holm's p under 0.05, which this seed does not give).
    assert "character higher" not in table and "character lower" not in table


def test_judge_validity_from_the_eval_metadata(tmp_path: Path) -> None:
    log = synthetic_log("trait_expression", samples=40)
    assert log.samples is not None
    log.samples = [s for s in log.samples if (s.metadata or {}).get("condition") != "judge_validity"]
    log.eval.metadata["characterlab"]["judge_validity"] = {  # type: ignore[index]
        trait: {"auroc": 0.9, "gap": 30.0, "n_examples": 4, "n_counterexamples": 4, "missing": 0, "reliable": True}
        for trait in ("curiosity", "warmth", "gloom")
    } | {
        "wit": {
            "auroc": 0.41,
            "gap": -2.0,
            "n_examples": 4,
            "n_counterexamples": 4,
            "missing": 1,
            "reliable": False,
            "verdict": "scores counterexamples as high as examples",
        }
    }
    page = build_study_report([_located(log, str(tmp_path / "t.eval"))])
    assert "Judge not reliable for trait &#39;wit&#39; (AUROC 0.41, gap -2.0, 4 examples / 4 counterexamples" in page
    assert "scores counterexamples as high as examples" in page
    assert "&#39;curiosity&#39;" not in page.split('id="study-')[0]  # reliable traits raise no warning


def test_an_unchecked_judge_is_not_a_finding(tmp_path: Path) -> None:
    log = synthetic_log("trait_expression", samples=30)
    assert log.samples is not None
    log.samples = [s for s in log.samples if (s.metadata or {}).get("condition") != "judge_validity"]
    page = build_study_report([_located(log, str(tmp_path / "t.eval"))])
    assert "Judge validity was not checked for trait &#39;curiosity&#39;" in page


def test_generate_and_parse_runs_are_labelled(tmp_path: Path) -> None:
    log = synthetic_log("ai_risk", samples=30, scoring="generate")
    page = build_study_report([_located(log, str(tmp_path / "g.eval"))])
    assert "generate-and-parse" in page and "answers parsed from generated text" in page


def test_runs_of_a_study_are_compared_on_sample_ids(tmp_path: Path) -> None:
    write_synthetic_logs(tmp_path, samples=60, studies=["sycophancy"], created=datetime.now(UTC) - timedelta(1))
    write_synthetic_logs(tmp_path, samples=60, studies=["sycophancy"], seed=9, model="mockllm/other", effect=3.0)
    page = write_study_report([tmp_path], tmp_path / "out" / "r.html").read_text(encoding="utf-8")
    comparison = page[page.index('id="study-sycophancy-compare-1"') :]
    assert "Ada · mockllm/other vs Ada · mockllm/model" in comparison
    assert "Run 2 against run 1, paired on sample id and epoch" in comparison
    assert "Paired sign-flip permutation test" in comparison and "Holm" in comparison
    assert "run 1: Ada · mockllm/model" in comparison  # both runs side by side in the forest plots
    assert "model: mockllm/other" not in comparison or "vs" in comparison


def test_runs_without_shared_samples_are_not_compared(tmp_path: Path) -> None:
    first = synthetic_log("trait_expression", samples=30, created=datetime.now(UTC) - timedelta(hours=2))
    other = synthetic_log("trait_expression", samples=30, seed=3, created=datetime.now(UTC) - timedelta(hours=1))
    assert other.samples is not None
    for sample in other.samples:
        sample.id = f"other-{sample.id}"  # another character's traits: no sample in common with the first run
    page = build_study_report([_located(first, str(tmp_path / "a.eval")), _located(other, str(tmp_path / "b.eval"))])
    assert 'id="study-trait-expression-compare-1"' not in page and "nothing to pair" not in page


def test_a_metric_switched_off_by_its_setting_is_not_called_failed(tmp_path: Path) -> None:
    log = synthetic_log("self_report", samples=30)
    assert log.samples is not None
    for sample in log.samples:
        for score in (sample.scores or {}).values():
            assert isinstance(score.value, dict)
            score.value["nli_contradiction"] = NAN
    log.eval.metadata["characterlab"]["settings"]["nli_model"] = None  # type: ignore[index]
    page = build_study_report([_located(log, str(tmp_path / "s.eval"))])
    assert "No nli_contradiction value at all" not in page
    log.eval.metadata["characterlab"]["settings"]["nli_model"] = "some/nli-model"  # type: ignore[index]
    page = build_study_report([_located(log, str(tmp_path / "s.eval"))])
    assert "No nli_contradiction value at all" in page  # asked for and absent: that is a failure


def test_the_trait_summary_reads_the_judge_free_measures(tmp_path: Path) -> None:
    log = synthetic_log("trait_expression", samples=60, effect=3.0)
    page = build_study_report([_located(log, str(tmp_path / "t.eval"))])
    summary = page[: page.index('id="study-')]
    assert "Sentiment toward the trait, character vs baseline" in summary


def test_model_text_is_escaped_everywhere(tmp_path: Path) -> None:
    log = synthetic_log("sycophancy", samples=12)
    assert log.samples is not None
    for sample in log.samples:
        sample.metadata = {**(sample.metadata or {}), "group": "<script>alert(1)</script> $5 bets"}
    log.eval.metadata["characterlab"]["character"] = "<b>Eve</b>"  # type: ignore[index]
    page = build_study_report([_located(log, str(tmp_path / "e.eval"))])
    assert "<script>alert(1)" not in page and "<b>Eve</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; $5 bets" in page  # in the SVG text and in the tables


def test_an_unknown_study_gets_the_generic_presentation(tmp_path: Path) -> None:
    log = synthetic_log("new_study", samples=30)
    log.samples[0].scores = {"new_study": Score(value={"score": NAN})}  # type: ignore[index]
    page = build_study_report([_located(log, str(tmp_path / "n.eval"))])
    assert 'id="study-new-study"' in page and "pooled over groups" in page and "Score by group" in page
