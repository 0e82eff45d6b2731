"""``characterlab models`` and ``characterlab talk``, run in-process on tiny random models."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from characterlab.models import build_tiny_model
from tests.cli.cli_runner import run


@pytest.fixture(scope="module")
def tiny_chat_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"), architecture="llama")


@pytest.fixture
def bo_path(tmp_path: Path) -> Path:
    """A short character: the tiny models read 512 tokens, and their small vocabulary spends many on a rich one."""
    path = tmp_path / "bo.character.yaml"
    path.write_text("schema: characterlab/character@1\nname: Bo\ngreeting: Hello, {{user}}.\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny_base_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-gpt2"), architecture="gpt2")


def test_models_list_shows_the_capability_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "models", "list")
    assert code == 0
    assert "as of inspect-ai 0.3.285" in out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 2}
    assert "exact" in rows["characterlab"]
    assert "first token" in rows["openai"]
    assert "first token" not in rows["anthropic"]


def test_models_info_describes_a_local_model(capsys: pytest.CaptureFixture[str], tiny_chat_model: Path) -> None:
    code, out, _ = run(capsys, "models", "info", tiny_chat_model, "--device", "cpu")
    assert code == 0
    assert str(tiny_chat_model) in out
    for label, value in (("layers", "3"), ("hidden size", "64"), ("dtype", "float32"), ("device", "cpu")):
        assert any(label in line and f" {value} " in line for line in out.splitlines()), (label, out)
    assert "yes (frame: chat)" in out


def test_models_info_of_a_missing_folder_is_a_clean_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "models", "info", tmp_path / "nothing")
    assert code == 1 and out == ""
    assert err.startswith("error: cannot load a model") and "Traceback" not in err


def test_models_prepare_reports_where_and_how_long(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import characterlab.models

    prepared: list[str] = []

    def fake_default_model_path(which: str) -> Path:  # the real conversion takes half a minute: a slow test's job
        prepared.append(which)
        return tmp_path / which

    monkeypatch.setattr(characterlab.models, "default_model_path", fake_default_model_path)
    code, out, _ = run(capsys, "models", "prepare")
    assert code == 0 and prepared == ["default", "base"]
    assert f"characterlab/default: {tmp_path / 'default'} (" in out and " s)" in out
    code, out, _ = run(capsys, "models", "prepare", "base")
    assert prepared[-1] == "base" and "characterlab/base" in out and "characterlab/default" not in out


def test_talk_says_and_prints_the_replies(
    capsys: pytest.CaptureFixture[str], tiny_chat_model: Path, bo_path: Path
) -> None:
    model = f"characterlab/{tiny_chat_model}"
    code, out, err = run(
        capsys, "talk", bo_path, "--model", model, "--say", "Hi!", "--say", "And?", "--max-tokens", "5"
    )
    assert code == 0, err
    lines = [line for line in out.splitlines() if line.startswith("Bo:")]
    assert lines[0] == "Bo: Hello, User."  # the greeting, then one reply per --say
    assert len(lines) == 3


def test_talk_stages_a_base_model_as_a_transcript(
    capsys: pytest.CaptureFixture[str], tiny_base_model: Path, bo_path: Path
) -> None:
    model = f"characterlab/{tiny_base_model}"
    code, out, err = run(capsys, "talk", bo_path, "-m", model, "--say", "Hello", "--user", "Sam", "--max-tokens", "8")
    assert code == 0, err
    assert out.startswith("Bo: Hello, Sam.\nBo:")


def test_talk_reports_a_prompt_too_long_for_the_model(
    capsys: pytest.CaptureFixture[str], tiny_base_model: Path, ada_path: Path
) -> None:
    code, _, err = run(capsys, "talk", ada_path, "-m", f"characterlab/{tiny_base_model}", "--say", "Hello")
    assert code == 1 and "the model reads at most 512" in err


def test_talk_reads_lines_from_stdin_without_say(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tiny_chat_model: Path, bo_path: Path
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("First line\n\nSecond line\n"))
    code, out, err = run(capsys, "talk", bo_path, "-m", f"characterlab/{tiny_chat_model}", "--max-tokens", "3")
    assert code == 0, err
    assert sum(line.startswith("Bo:") for line in out.splitlines()) == 3


def test_talk_passes_model_args(capsys: pytest.CaptureFixture[str], tiny_chat_model: Path, bo_path: Path) -> None:
    model = f"characterlab/{tiny_chat_model}"
    code, _, err = run(capsys, "talk", bo_path, "-m", model, "--say", "Hi", "-M", "batch_size=0")
    assert code == 1 and "batch_size must be a positive whole number" in err
    code, _, err = run(capsys, "talk", bo_path, "-m", model, "--say", "Hi", "-M", "frame=raw")
    assert code == 2 and "--frame" in err


def test_talk_with_an_unknown_provider_is_a_clean_error(capsys: pytest.CaptureFixture[str], bo_path: Path) -> None:
    code, _, err = run(capsys, "talk", bo_path, "-m", "nosuch/model", "--say", "Hi")
    assert code == 1 and err.startswith("error: cannot use nosuch/model: Model API nosuch")
