"""The benchmarks keep working: each runs on a tiny model at a tiny size and returns finite ratios.

Nothing is asserted about speed here (that is what `make bench` measures); only that each benchmark runs, its
two sides agree where they must, and it reports a ratio.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench import activations, dialogue, dpo, generation, option_scoring, persona_statements, report_build, web_ttft
from bench._report import Ratio
from characterlab.models import build_tiny_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(build_tiny_model(tmp_path_factory.mktemp("bench-tiny"), architecture="llama"))


def _finite(ratios: list[Ratio]) -> None:
    assert ratios
    for ratio in ratios:
        assert math.isfinite(ratio.value) and ratio.ours > 0 and ratio.baseline > 0
        assert ratio.line().startswith(ratio.name)


def test_generation_bench(tiny: str) -> None:
    _finite(generation.run(tiny, requests=4, max_tokens=4))


def test_option_scoring_bench_sides_agree(tiny: str) -> None:
    ratios = option_scoring.run(tiny, count=8, batch_size=4)
    _finite(ratios)
    worst = float(ratios[0].detail.rsplit(" ", 1)[1])
    assert worst < 1e-3  # shared-prefix scores equal independent full-sequence scores


def test_activations_bench(tiny: str) -> None:
    _finite(activations.run(tiny, count=8, batch_size=4, repeats=1))


def test_dpo_bench_sides_take_the_same_steps(tiny: str) -> None:
    ratios = dpo.run(tiny, count=8, batch_size=4, epochs=1.0, repeats=1)
    _finite(ratios)
    assert ratios[0].unit == "steps/s" and ratios[0].detail.startswith("2 steps a run")  # 8 pairs, 4 a step


def test_ratio_verdicts() -> None:
    assert Ratio("x", ours=5, baseline=1, unit="", target=4, direction="at_least").met
    assert not Ratio("x", ours=3, baseline=1, unit="", target=4, direction="at_least").met
    assert Ratio("x", ours=1.05, baseline=1, unit="", target=0.1, direction="at_most").met
    assert not Ratio("x", ours=1.2, baseline=1, unit="", target=0.1, direction="at_most").met


def test_persona_statements_bench_sides_agree(tiny: str) -> None:
    ratios = persona_statements.run(f"characterlab/{tiny}", count=6, batch_size=3)
    _finite(ratios)
    worst = float(ratios[0].detail.rsplit(" ", 1)[1])
    assert worst < 1e-3  # batching changes the speed, not the answers


def test_dialogue_bench_sides_agree(tiny: str) -> None:
    ratios = dialogue.run(f"characterlab/{tiny}", count=3, turns=2, max_tokens=4)
    _finite(ratios)
    assert ratios[0].detail.endswith("identical conversations 3/3")  # batching changes the speed, not the words


def test_report_build_bench(tmp_path: Path) -> None:
    ratios = report_build.run(samples=60, log_dir=tmp_path)
    _finite(ratios)
    assert (tmp_path / "trait_expression-0.eval").exists()
    assert "log reused" in report_build.run(samples=60, log_dir=tmp_path)[0].detail  # a kept log is not rewritten


def test_web_ttft_bench_times_both_sides(tiny: str) -> None:
    served, alone, saturated, burst = web_ttft.run(f"characterlab/{tiny}", count=3, rounds=1, turns=2, pace=(0, 0.2))
    _finite([served, alone, saturated, burst])
    assert served.unit == "ms" and served.direction == "added_at_most" and served.paired == served.value
    assert "median of 6 paired turns" in served.detail and "over 3 conversations" in served.detail
    assert "median of 4 paired turns" in alone.detail and "over 4 turns" in alone.detail
    assert "6 paired" in saturated.detail and "3 paired turns" in burst.detail and "over 1 bursts" in burst.detail
