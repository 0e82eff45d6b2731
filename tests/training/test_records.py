"""A run's records survive a kill: appended line by line, a cut-short last line dropped, bad lines named."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from characterlab.errors import DataFileError
from characterlab.training import TrainingPrompt, read_records
from characterlab.training._records import append_as_completed, append_records, prompt_id, write_records


def _prompt(text: str) -> TrainingPrompt:
    return TrainingPrompt(id=prompt_id(text), text=text, trait="cheer", source="probe")


def test_records_read_back_as_written(tmp_path: Path) -> None:
    path = tmp_path / "data" / "prompts.jsonl"
    assert read_records(path, TrainingPrompt) == []
    append_records(path, [_prompt("a"), _prompt("b")])
    append_records(path, [_prompt("c")])
    assert [p.text for p in read_records(path, TrainingPrompt)] == ["a", "b", "c"]
    write_records(path, [_prompt("d")])
    assert [p.text for p in read_records(path, TrainingPrompt)] == ["d"]
    assert not (tmp_path / "data" / "prompts.jsonl.partial").exists()


def test_a_line_cut_short_by_a_kill_is_dropped_and_the_file_repaired(tmp_path: Path) -> None:
    path = tmp_path / "prompts.jsonl"
    append_records(path, [_prompt("a"), _prompt("b")])
    whole = path.read_text(encoding="utf-8")
    path.write_text(whole + whole.splitlines()[0][:20], encoding="utf-8")  # killed while writing a third line
    assert [p.text for p in read_records(path, TrainingPrompt)] == ["a", "b"]
    append_records(path, [_prompt("c")])
    assert [p.text for p in read_records(path, TrainingPrompt)] == ["a", "b", "c"]


def test_a_bad_line_inside_the_file_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "prompts.jsonl"
    append_records(path, [_prompt("a")])
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"id": "x", "text": "", "source": "probe"}\n{"id": "y"\n')
    with pytest.raises(DataFileError) as raised:
        read_records(path, TrainingPrompt)
    message = str(raised.value)
    assert "prompts.jsonl:2: text" in message and "prompts.jsonl:3: not valid JSON" in message


def test_prompt_ids_depend_on_the_text_only() -> None:
    assert prompt_id("Hello there") == prompt_id("  Hello there\n") != prompt_id("Hello there!")


def test_a_failing_job_does_not_lose_the_others(tmp_path: Path) -> None:
    path = tmp_path / "prompts.jsonl"

    async def made(text: str, delay: float) -> TrainingPrompt:
        await asyncio.sleep(delay)
        return _prompt(text)

    async def fails() -> TrainingPrompt:
        raise RuntimeError("the model went away")

    with pytest.raises(RuntimeError, match="went away"):
        asyncio.run(append_as_completed(path, [made("slow", 0.05), fails(), made("fast", 0.0)]))
    # Both records that could be made were written, in the order they finished.
    assert [p.text for p in read_records(path, TrainingPrompt)] == ["fast", "slow"]
