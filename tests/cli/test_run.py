"""``characterlab run``: mistakes in the command or the data stop with a message that says what to fix; study
options reach the task however they are given. The model is a fake OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from inspect_ai.log import EvalLog, read_eval_log

from characterlab.cli.run import STUDY_IDS
from characterlab.studies import STUDIES, persona_statements
from tests.cli.cli_runner import run
from tests.studies.openai_server import FakeOpenAIServer, serve, write_persona_file


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeOpenAIServer]:
    """A fault-free server, with the environment pointing ``openai-api/fake/...`` at it."""
    # Inspect's sample buffer lives in its per-user data dir; keep this test's to itself.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data-home"))
    with serve(fault_rate=0.0) as running:
        for name, value in running.env().items():
            monkeypatch.setenv(name, value)
        yield running


def _model(server: FakeOpenAIServer) -> str:
    # Named after the port: Inspect memoizes models by name within a process, with the base URL they were made with.
    return server.model(f"m{server.port}")


def _run_study(
    capsys: pytest.CaptureFixture[str], server: FakeOpenAIServer, log_dir: Path, *args: str | Path
) -> tuple[int, str, str]:
    return run(
        capsys, "run", "persona_statements", "--model", _model(server), "--log-dir", log_dir, "--display", "none", *args
    )


def _only_log(log_dir: Path) -> EvalLog:
    (path,) = sorted(log_dir.glob("*.eval"))
    return read_eval_log(str(path))


def test_the_cli_knows_every_study() -> None:
    assert set(STUDY_IDS) == {*STUDIES, "dialogue"}


def test_an_unknown_study_lists_the_studies(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "run", "personality", "--log-dir", tmp_path)
    assert code == 1
    assert "unknown study 'personality'" in err
    for study in STUDY_IDS:
        assert study in err
    assert "Traceback" not in err


def test_an_unknown_study_option_is_named_with_the_studys_options(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "run", "persona_statements", "--nonsense", "3", "--log-dir", tmp_path)
    assert code == 1
    assert "persona_statements has no option --nonsense" in err
    for name in inspect.signature(persona_statements).parameters:
        assert "--" + name.replace("_", "-") in err
    assert not list(tmp_path.glob("*.eval"))


def test_a_task_arg_without_a_value_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "run", "persona_statements", "-T", "seed", "--log-dir", tmp_path)
    assert code == 2
    assert "KEY=VALUE" in err


def test_a_baseline_needs_a_character(
    capsys: pytest.CaptureFixture[str], server: FakeOpenAIServer, tmp_path: Path
) -> None:
    data = write_persona_file(tmp_path / "persona.jsonl", 3)
    code, _, err = _run_study(capsys, server, tmp_path / "logs", "--data", data, "--baseline")
    assert code == 1
    assert "--baseline compares a character with the bare model; give --character" in err
    assert server.total_requests == 0


def _bad_data(tmp_path: Path) -> Path:
    good = write_persona_file(tmp_path / "good.jsonl", 3).read_text(encoding="utf-8").splitlines()
    missing = json.loads(good[0])
    del missing["answer_not_matching_behavior"]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([good[0], json.dumps(missing), "{not json", *good[1:]]) + "\n", encoding="utf-8")
    return path


def test_bad_data_lines_stop_the_run_naming_file_and_line(
    capsys: pytest.CaptureFixture[str], server: FakeOpenAIServer, tmp_path: Path
) -> None:
    data = _bad_data(tmp_path)
    code, _, err = _run_study(capsys, server, tmp_path / "logs", "--data", data)
    assert code == 1
    assert f"{data}:2: answer_not_matching_behavior: missing" in err
    assert f"{data}:3: not valid JSON" in err
    assert "Traceback" not in err
    assert server.total_requests == 0


def test_skip_bad_lines_runs_the_rest_and_records_the_skipped_lines(
    capsys: pytest.CaptureFixture[str], server: FakeOpenAIServer, tmp_path: Path
) -> None:
    data = _bad_data(tmp_path)
    log_dir = tmp_path / "logs"
    code, out, err = _run_study(capsys, server, log_dir, "--data", data, "--skip-bad-lines")
    assert code == 0, out + err
    log = _only_log(log_dir)
    assert log.status == "success"
    assert log.samples is not None and len(log.samples) == 3
    (record,) = (log.eval.metadata or {})["characterlab"]["data_files"]
    assert record["path"] == str(data)
    assert record["lines"] == 3
    skipped = record["skipped"]
    assert [entry["line"] for entry in skipped] == [2, 3]
    assert "answer_not_matching_behavior" in skipped[0]["problem"]
    assert "not valid JSON" in skipped[1]["problem"]


def test_study_options_reach_the_task_as_task_args_and_as_flags(
    capsys: pytest.CaptureFixture[str], server: FakeOpenAIServer, tmp_path: Path
) -> None:
    data = write_persona_file(tmp_path / "persona.jsonl", 8)
    log_dir = tmp_path / "logs"
    code, out, err = _run_study(
        capsys, server, log_dir, "--data", data, "-T", "n_per_behaviour=4", "--seed", "3", "--frame=plain"
    )
    assert code == 0, out + err
    log = _only_log(log_dir)
    assert log.eval.task_args["n_per_behaviour"] == 4  # typed, as inspect eval -T does
    assert log.eval.task_args["seed"] == 3
    assert log.eval.task_args["frame"] == "plain"
    # ... and the task used them: four items drawn, asked in the plain frame (no Human/Assistant wrapper).
    assert log.samples is not None and len(log.samples) == 4
    assert (log.eval.metadata or {})["characterlab"]["settings"]["frame"] == "plain"
    prompts = server.stats()["requests_by_prompt"]
    assert len(prompts) == 4
    assert not any("Human:" in prompt for prompt in prompts)
