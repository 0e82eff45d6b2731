"""``characterlab train``: a constitution trained into a tiny model from the command line, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from characterlab.models import build_tiny_model
from tests.cli.cli_runner import run

CONSTITUTION = [
    {"trait": "I greet everyone with ahoy and good cheer.", "questions": ["How are you?", "Nice weather?", "Hi!"]},
    {"trait": "I keep my answers short.", "questions": ["Explain tides.", "What is a knot?"]},
]


@pytest.mark.slow
def test_a_constitution_trains_into_a_bundle(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    tiny = build_tiny_model(tmp_path / "tiny", context=4096)
    constitution = tmp_path / "sailor.txt"
    constitution.write_text(json.dumps(CONSTITUTION), encoding="utf-8")
    bundle = tmp_path / "bundle"
    code, out, err = run(
        capsys, "train", constitution, "--student", f"characterlab/{tiny}", "-o", bundle,
        "--generated-per-trait", "0", "--max-tokens", "8", "--min-margin", "-1", "--no-rationale",
        "--epochs", "1", "--rank", "2", "--no-gradient-checkpointing", "--no-evaluation-judge", "--no-studies",
        "--quiet",
    )  # fmt: skip
    assert code == 0, err
    assert "held-out pairs: margin" in out and "report.html" in out
    manifest = json.loads((bundle / "bundle.json").read_text(encoding="utf-8"))
    assert manifest["character"] == "sailor" and manifest["base_model"] == f"characterlab/{tiny}"
    config = json.loads((bundle / "config.json").read_text(encoding="utf-8"))
    assert config["dpo"]["rank"] == 2 and config["introspection"] is None
    assert (bundle / "report.html").is_file()


def test_a_bad_constitution_is_named_without_a_traceback(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    constitution = tmp_path / "broken.json"
    constitution.write_text('[{"trait": "I am kind.", "questions": "not a list"}]', encoding="utf-8")
    code, _, err = run(capsys, "train", constitution, "-o", tmp_path / "bundle")
    assert code == 1 and "Traceback" not in err
    assert "broken.json" in err and "[0].questions: expected a list" in err
    assert not (tmp_path / "bundle").exists()


def test_an_api_student_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    character = Path(__file__).resolve().parents[2] / "examples" / "characters" / "cheerful.character.yaml"
    code, _, err = run(capsys, "train", character, "--student", "openai/gpt-4o", "-o", tmp_path / "bundle")
    assert code == 1 and "must be a local model" in err
