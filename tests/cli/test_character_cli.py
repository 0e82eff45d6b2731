"""The ``characterlab`` command line, run in-process and, once, as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from characterlab import __version__
from characterlab.characters import Character, load_character
from tests.cli.cli_runner import run
from tests.conftest import bundled_character_paths


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--version") == (0, f"characterlab {__version__}\n", "")


def test_new_writes_a_valid_commented_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "x.character.yaml"
    code, out, _ = run(capsys, "character", "new", "Dr. No: Returns", "-o", target)
    assert code == 0 and "wrote" in out
    assert load_character(target).name == "Dr. No: Returns"
    assert "# A characterlab character." in target.read_text(encoding="utf-8")
    code, _, err = run(capsys, "character", "new", "Again", "-o", target)
    assert code == 1 and "already exists" in err
    assert load_character(target).name == "Dr. No: Returns"  # nothing was overwritten


def test_validate_reports_every_bad_file_and_fails(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.character.yaml"
    bad.write_text("schema: characterlab/character@1\nname: B\ntraits:\n  - id: x\n    strength: high\n")
    good = bundled_character_paths()[0]
    code, out, err = run(capsys, "character", "validate", good, bad)
    assert code == 1
    assert "✓" in out
    assert "bad.character.yaml:4: traits[0].description: missing" in err
    assert 'bad.character.yaml:5: traits[0].strength: expected a number in [0, 1], got "high"' in err
    assert "Traceback" not in out + err


def test_validate_all_bundled(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "character", "validate", *bundled_character_paths())
    assert code == 0
    assert out.count("✓") == len(bundled_character_paths())


def test_show(capsys: pytest.CaptureFixture[str], ada_path: Path) -> None:
    code, out, _ = run(capsys, "character", "show", ada_path)
    assert code == 0
    assert "curiosity" in out and "0.8 (strong)" in out and "Precision" in out


def test_render_chat_json_and_transcript(capsys: pytest.CaptureFixture[str], ada_path: Path) -> None:
    code, out, _ = run(capsys, "character", "render", ada_path, "--json", "--user", "Sam", "--greeting", "1")
    messages = json.loads(out)
    assert code == 0
    assert [m["role"] for m in messages] == ["system", "assistant", "system"]
    assert messages[1]["content"] == "Back again, Sam?"
    code, out, err = run(capsys, "character", "render", ada_path, "--frame", "transcript", "--user", "Sam")
    assert code == 0 and out.rstrip().endswith("Ada:") and "stop sequences" in err


def test_render_rejects_a_greeting_it_lacks(capsys: pytest.CaptureFixture[str], ada_path: Path) -> None:
    code, _, err = run(capsys, "character", "render", ada_path, "--greeting", "7")
    assert code == 2 and "alternate greeting" in err


@pytest.mark.parametrize("fmt", ["png", "v2", "v3"])
def test_export_then_import(capsys: pytest.CaptureFixture[str], tmp_path: Path, ada: Character, fmt: str) -> None:
    card = tmp_path / f"ada.{'png' if fmt == 'png' else 'json'}"
    code, _, _ = run(capsys, "character", "export", Path("tests/fixtures/ada.character.yaml"), "-f", fmt, "-o", card)
    assert code == 0 and card.exists()
    back = tmp_path / "back.character.yaml"
    code, _, _ = run(capsys, "character", "import", card, "-o", back)
    assert code == 0
    imported = load_character(back)
    assert imported == ada


def test_bad_card_is_a_message_not_a_traceback(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    card = tmp_path / "broken.png"
    card.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x10IHDR")
    code, _, err = run(capsys, "character", "import", card, "-o", tmp_path / "out.character.yaml")
    assert code == 1 and "broken.png" in err and "Traceback" not in err
    assert not (tmp_path / "out.character.yaml").exists()


def test_entry_point_runs_as_a_program(tmp_path: Path) -> None:
    bad = tmp_path / "bad.character.yaml"
    bad.write_text("name: [unclosed\n")
    result = subprocess.run(
        [sys.executable, "-m", "characterlab", "character", "validate", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "bad.character.yaml:" in result.stderr and "not valid YAML" in result.stderr
    assert "Traceback" not in result.stderr


def test_render_prints_the_prompt_verbatim(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    long_line = "word " * 60
    source = tmp_path / "long.character.yaml"
    source.write_text(f"schema: characterlab/character@1\nname: Long\nvoice: {long_line}\n", encoding="utf-8")
    code, out, _ = run(capsys, "character", "render", source)
    assert code == 0 and long_line.strip() in out  # not re-wrapped at the terminal's width


def test_export_refuses_an_image_for_json(capsys: pytest.CaptureFixture[str], tmp_path: Path, ada_path: Path) -> None:
    code, _, err = run(capsys, "character", "export", ada_path, "-f", "v3", "--image", ada_path, "-o", tmp_path / "a")
    assert code == 2 and "holds no image" in err


def test_unwritable_output_is_a_message(capsys: pytest.CaptureFixture[str], tmp_path: Path, ada_path: Path) -> None:
    code, _, err = run(capsys, "character", "export", ada_path, "-o", tmp_path / "no" / "such" / "dir.png")
    assert code == 1 and "cannot write the card" in err and "Traceback" not in err
    code, _, err = run(capsys, "character", "import", "README.md", "-o", tmp_path / "x.character.yaml")
    assert code == 1 and "README.md" in err


def test_import_constitution_writes_an_editable_character(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    constitution = tmp_path / "humor.jsonl"
    constitution.write_text(
        '{"trait": "I find the funny side of things.", "questions": ["Q1"], "additional_questions": ["Q2"]}\n',
        encoding="utf-8",
    )
    output = tmp_path / "humor.character.yaml"
    code, out, err = run(capsys, "character", "import-constitution", constitution, "-o", output, "--name", "Wit")
    assert code == 0, err
    assert "Wit (1 trait(s))" in out
    character = load_character(output)
    assert character.name == "Wit" and character.traits[0].probes == ["Q1", "Q2"]
    code, _, err = run(capsys, "character", "import-constitution", constitution, "-o", output)
    assert code == 1 and "already exists" in err
