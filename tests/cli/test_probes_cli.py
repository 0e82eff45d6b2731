"""``characterlab probes best-of-n`` and ``probes compare`` on tiny local models: the pages and tables they write,
and bad input as clean errors."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from characterlab.models import build_tiny_model
from tests.cli.cli_runner import run

# Short characters: a tiny model reads at most 512 tokens, about a token a character, frame included.
SAILOR = """schema: characterlab/character@1
name: Bo
summary: A sailor.
traits:
  - id: salty
    description: Talks of the sea.
    strength: 0.9
    examples:
      - context: Hi.
        response: Ahoy, the tide is high!
    counterexamples:
      - context: Hi.
        response: Hello, how can I help?
    probes:
      - Hi.
      - How are you?
      - What is new?
      - Where to?
"""
COUNTER = "schema: characterlab/character@1\nname: Ada\nsummary: A counter of things.\n"
GARDENER = "schema: characterlab/character@1\nname: Cy\nsummary: A gardener.\n"


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_best_of_n_writes_the_gain_by_n_its_test_and_the_cost_per_candidate(
    capsys: pytest.CaptureFixture[str], tiny_llama: Path, tmp_path: Path
) -> None:
    sailor = _write(tmp_path, "bo.character.yaml", SAILOR)
    page = tmp_path / "out" / "best.html"
    code, out, err = run(
        capsys, "probes", "best-of-n", sailor, "--model", tiny_llama, "--n", "2,1", "--layer=-1", "--max-tokens", "3",
        "-o", page,
    )  # fmt: skip
    assert code == 0, err
    assert "Best of N by a probe: Bo" in out and "held-out AUROC" in out and "cost per candidate" in out
    assert "judge-free checker" in out and "paired sign-flip permutation test" in out
    table = pd.read_csv(page.with_suffix(".csv"))
    assert list(table.columns[:4]) == ["N", "probe_pick", "probe_pick_low", "probe_pick_high"]
    assert table["N"].tolist() == [1, 2]
    # The trait's four probes: every second one trains the probe, the other two are held out for picking.
    assert table["questions"].tolist() == [2, 2] and table["missing"].tolist() == [0, 0]
    assert table["layer"].tolist() == [2, 2]  # -1: the last of the tiny model's 3 blocks
    one, two = table.to_dict("records")
    assert one["gain"] == 0.0 and one["p_value"] == 1.0  # one candidate: the probe and a random pick agree
    for column in ("probe_pick", "probe_pick_low", "probe_pick_high", "random_pick", "gain", "gain_low", "p_value"):
        assert math.isfinite(two[column]), column
    assert two["gain"] == pytest.approx(two["probe_pick"] - two["random_pick"])
    # Scoring by the probe is a dot product on states that came with the reply; the checker embeds every candidate.
    assert 0 < two["probe_seconds_per_candidate"] < two["check_seconds_per_candidate"]
    html = page.read_text(encoding="utf-8")
    for section in ("1. The probe", "2. Gain over a random pick as N grows", "3. Cost per candidate", "4. Candidates"):
        assert section in html
    assert html.count("<svg") == 2 and "Judge-free checker" in html and "n=2</td>" in html
    assert "held-out AUROC" in html and "paired sign-flip permutation test" in html
    assert "<summary>How are you?</summary>" in html and "<summary>Where to?</summary>" in html
    assert "<summary>Hi.</summary>" not in html  # a training question is never picked on


def test_best_of_n_asks_the_judge_given_as_checker(
    capsys: pytest.CaptureFixture[str], tiny_llama: Path, tmp_path: Path
) -> None:
    judge = build_tiny_model(tmp_path / "judge", context=2048)  # the whole character's rubric needs the room
    sailor = _write(tmp_path, "bo.character.yaml", SAILOR)
    questions = _write(tmp_path, "questions.txt", "Hi.\nHow are you?\n\nWhere to?\n")
    page = tmp_path / "best.html"
    code, out, err = run(
        capsys, "probes", "best-of-n", sailor, "--model", tiny_llama, "--checker", f"characterlab/{judge}",
        "--questions", questions, "--n", "1,2", "--max-tokens", "2", "-o", page,
    )  # fmt: skip
    assert code == 0, err
    assert "checked by the judge" in out
    table = pd.read_csv(page.with_suffix(".csv"))
    assert table["checker"].str.startswith("the judge characterlab/").all()
    # One question held out of three; a random tiny judge may give no number, which is counted, never a 0.
    assert (table["questions"] + table["missing"]).tolist() == [1, 1]
    assert (table["check_seconds_per_candidate"] > 0).all()
    assert "Judge-free" not in page.read_text(encoding="utf-8")


def test_best_of_n_bad_input_is_a_clean_error(
    capsys: pytest.CaptureFixture[str], tiny_llama: Path, tmp_path: Path
) -> None:
    sailor = _write(tmp_path, "bo.character.yaml", SAILOR)
    code, _, err = run(capsys, "probes", "best-of-n", sailor, "--model", tiny_llama, "--n", "two")
    assert code == 1 and "--n 'two'" in err and "Traceback" not in err
    code, _, err = run(capsys, "probes", "best-of-n", sailor, "--model", tiny_llama, "--n", "0,2")
    assert code == 1 and "at least 1" in err
    one = _write(tmp_path, "one.txt", "Only one?\n")
    code, _, err = run(capsys, "probes", "best-of-n", sailor, "--model", tiny_llama, "--questions", one)
    assert code == 1 and "at least two questions" in err and "Traceback" not in err
    plain = _write(tmp_path, "ada.character.yaml", COUNTER)  # no trait examples: nothing to check without a judge
    two = _write(tmp_path, "two.txt", "One?\nTwo?\n")
    code, _, err = run(capsys, "probes", "best-of-n", plain, "--model", tiny_llama, "--questions", two)
    assert code == 1 and "give --checker JUDGE" in err and "Traceback" not in err
    code, _, err = run(capsys, "probes", "best-of-n", sailor, "--model", tiny_llama, "--layer", "7")
    assert code == 1 and "--layer 7: the model has 3 blocks" in err and "Traceback" not in err


def test_compare_says_how_alike_two_models_arrange_the_characters(
    capsys: pytest.CaptureFixture[str], tiny_llama: Path, tmp_path: Path
) -> None:
    characters = [
        _write(tmp_path, f"{name}.character.yaml", text)
        for name, text in (("ada", COUNTER), ("bo", SAILOR), ("cy", GARDENER))
    ]
    questions = _write(tmp_path, "questions.txt", "Hi.\nWhere to?\n")
    anchors = _write(tmp_path, "anchors.txt", "Describe a chair.\nList three colours.\nName a tree.\n")
    options = ["--questions", questions, "--anchors", anchors, "--max-tokens", "2", "--resamples", "200"]
    # A model against itself arranges the characters exactly alike, and only the true matching does that well.
    same = tmp_path / "same.html"
    code, out, err = run(
        capsys, "probes", "compare", *characters, "--model", tiny_llama, "--other-model", f"characterlab/{tiny_llama}",
        "--layer-a=-1", "--layer-b", "2", *options, "-o", same,
    )  # fmt: skip
    assert code == 0, err
    assert "permutation test over all 6 matchings" in out
    table = pd.read_csv(same.with_suffix(".csv")).set_index("statistic")
    assert list(table.index) == ["similarity", "retrieval", "structure"]
    assert table["value"].tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert table["p_value"].tolist() == pytest.approx([1 / 6] * 3)
    assert table.loc["retrieval", "chance"] == pytest.approx(1 / 3)  # one of three at random
    assert set(table["characters"]) == {3} and set(table["questions"]) == {2} and set(table["anchors"]) == {3}
    assert set(table["layer_a"]) == {2} and set(table["layer_b"]) == {2}
    # Another model (another architecture and seed), its first block.
    other = build_tiny_model(tmp_path / "other", architecture="gemma3", seed=1)
    page = tmp_path / "compare.html"
    code, out, err = run(
        capsys, "probes", "compare", *characters, "--model", tiny_llama, "--other-model", other, "--layer-b", "0",
        *options, "-o", page,
    )  # fmt: skip
    assert code == 0, err
    table = pd.read_csv(page.with_suffix(".csv")).set_index("statistic")
    assert set(table["layer_a"]) == {1} and set(table["layer_b"]) == {0}  # --layer-a by default: the middle block
    for column in ("value", "low", "high", "chance", "p_value"):
        assert table[column].map(math.isfinite).all(), column
    assert table.loc["retrieval", "value"] * 3 == pytest.approx(round(table.loc["retrieval", "value"] * 3))
    html = page.read_text(encoding="utf-8")
    assert "How alike are the two arrangements?" in html and "Each model's arrangement" in html
    assert html.count("<svg") == 1 and "n=3</td>" in html and "Moschella et al. 2022" in html
    assert f"{other}, block 0</h3>" in html and "<li>Name a tree.</li>" in html
    assert "percentile bootstrap over the 2 questions" in html and "Mantel-type" in html


def test_compare_bad_input_is_a_clean_error(
    capsys: pytest.CaptureFixture[str], tiny_llama: Path, tmp_path: Path
) -> None:
    ada = _write(tmp_path, "ada.character.yaml", COUNTER)
    bo = _write(tmp_path, "bo.character.yaml", SAILOR)
    code, _, err = run(capsys, "probes", "compare", ada, "--model", tiny_llama, "--other-model", tiny_llama)
    assert code == 1 and "give at least two" in err and "Traceback" not in err
    code, _, err = run(capsys, "probes", "compare", ada, ada, "--model", tiny_llama, "--other-model", tiny_llama)
    assert code == 1 and "different names" in err
    anchor = _write(tmp_path, "anchor.txt", "Describe a chair.\n")
    code, _, err = run(
        capsys, "probes", "compare", ada, bo, "--model", tiny_llama, "--other-model", tiny_llama, "--anchors", anchor,
    )  # fmt: skip
    assert code == 1 and "at least two anchor prompts" in err and "Traceback" not in err
