"""``characterlab vectors``: a trait's direction and a character's axis from a tiny local model, and a file shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from characterlab.characters import load_character
from characterlab.interp import read_vectors
from tests.cli.cli_runner import run

MARIT = Path(__file__).resolve().parents[2] / "examples" / "characters" / "marit.character.yaml"


def test_trait_and_axis_files_are_written_and_shown(
    capsys: pytest.CaptureFixture[str], tiny_llama: Path, tmp_path: Path
) -> None:
    trait = _first_trait_id()
    out_file = tmp_path / "trait.safetensors"
    code, out, err = run(
        capsys, "vectors", "trait", MARIT, "--trait", trait, "--model", tiny_llama, "--layers", "0,-1",
        "--max-tokens", "4", "-o", out_file,
    )  # fmt: skip
    assert code == 0, err
    written = read_vectors(out_file)
    assert written.provenance.kind == "trait" and written.provenance.trait == trait
    assert written.provenance.layers == [0, 2]
    questions = tmp_path / "questions.txt"
    questions.write_text("What do you do all day?\n\nTell me about the sea.\n", encoding="utf-8")
    axis_file = tmp_path / "axis.safetensors"
    code, out, err = run(
        capsys, "vectors", "axis", MARIT, "--model", f"characterlab/{tiny_llama}", "--layers", "1",
        "--questions", questions, "--max-tokens", "4", "-o", axis_file,
    )  # fmt: skip
    assert code == 0, err
    assert "2 questions × 2 personas" in out and read_vectors(axis_file).provenance.n_positive == 2
    code, out, _ = run(capsys, "vectors", "show", axis_file)
    assert code == 0 and "character_axis" in out and "|layer.1|" in out


def test_bad_layers_and_plain_files_are_clean_errors(
    capsys: pytest.CaptureFixture[str], tiny_llama: Path, tmp_path: Path
) -> None:
    code, _, err = run(capsys, "vectors", "axis", MARIT, "--model", tiny_llama, "--layers", "one", "-o", tmp_path / "x")
    assert code == 1 and "--layers 'one'" in err and "Traceback" not in err
    missing = tmp_path / "missing.safetensors"
    code, _, err = run(capsys, "vectors", "show", missing)
    assert code == 1 and "does not exist" in err


def _first_trait_id() -> str:
    return load_character(MARIT).traits[0].id


def test_a_sweep_writes_its_page_and_table(
    capsys: pytest.CaptureFixture[str], tiny_llama: Path, tmp_path: Path
) -> None:
    trait = _first_trait_id()  # observational precision: a regex scorer, so no embedding model is needed
    vectors = tmp_path / "trait.safetensors"
    assert run(capsys, "vectors", "trait", MARIT, "--trait", trait, "--model", tiny_llama, "--layers", "1",
               "--max-tokens", "4", "-o", vectors)[0] == 0  # fmt: skip
    page = tmp_path / "sweep" / "page.html"
    code, out, err = run(
        capsys, "vectors", "sweep", vectors, "--character", MARIT, "--model", tiny_llama, "--coefficients=-1,0,1",
        "--scorer", "programmatic", "--max-tokens", "4", "--question", "What did you see tonight?", "-o", page,
    )  # fmt: skip
    assert code == 0, err
    assert "3 points" in out and page.read_text(encoding="utf-8").count("<svg") == 3
    table = (tmp_path / "sweep" / "page.csv").read_text(encoding="utf-8").splitlines()
    assert table[0].startswith("layer,alpha,trait") and len(table) == 4
    code, _, err = run(capsys, "vectors", "sweep", vectors, "--character", MARIT, "--model", tiny_llama,
                       "--coefficients", "a,b", "-o", page)  # fmt: skip
    assert code == 1 and "--coefficients 'a,b'" in err


def test_probes_by_layer_print_a_table_and_write_a_page(
    capsys: pytest.CaptureFixture[str], tiny_llama: Path, tmp_path: Path
) -> None:
    questions = tmp_path / "questions.txt"
    questions.write_text("Tell me about your day.\nWhat do you like?\nWhere do you live?\n", encoding="utf-8")
    page = tmp_path / "probes.html"
    code, out, err = run(
        capsys, "probes", "speakers", MARIT, "--default", "--questions", questions, "--model", tiny_llama,
        "--max-tokens", "4", "--folds", "3", "-o", page,
    )  # fmt: skip
    assert code == 0, err
    assert "Who is speaking, by layer" in out and page.read_text(encoding="utf-8").count("<svg") == 1
    assert (tmp_path / "probes.csv").read_text(encoding="utf-8").startswith("layer,auroc,low,high,shuffled")
    one = tmp_path / "one.txt"
    one.write_text("Only one?\n", encoding="utf-8")
    code, _, err = run(capsys, "probes", "speakers", MARIT, "--default", "--questions", one, "--model", tiny_llama)
    assert code == 1 and "at least two" in err


def test_a_judge_is_asked_about_every_reply_and_its_failure_is_a_clean_error(
    capsys: pytest.CaptureFixture[str], tiny_llama: Path, tmp_path: Path
) -> None:
    # The tiny model as the judge cannot even read the trait's rubric (512 tokens at most): the judge was asked,
    # and its problem reaches the user as an error, with no file written.
    code, _, err = run(
        capsys, "vectors", "trait", MARIT, "--trait", _first_trait_id(), "--model", tiny_llama, "--layers", "1",
        "--max-tokens", "4", "--judge", f"characterlab/{tiny_llama}", "-o", tmp_path / "t.safetensors",
    )  # fmt: skip
    assert code == 1 and "reads at most 512" in err and "Traceback" not in err
    assert not (tmp_path / "t.safetensors").exists()
