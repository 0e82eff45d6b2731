"""The records a training run writes, one JSON object per line, and how they are written so that nothing is lost.

Every stage appends its records as it goes and flushes each line: a run that is killed keeps what was done, and
the next run reads the file back and does only what is missing. A last line cut short by a kill is left out (and
rewritten), while a bad line anywhere else is an error that names its line.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import Awaitable, Iterable
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from characterlab._file_problems import describe_problem, validation_problems
from characterlab.errors import DataFileError, FileProblem

__all__ = [
    "IntrospectionSample",
    "PairVerdict",
    "PreferencePair",
    "PromptSource",
    "Split",
    "TrainingPrompt",
    "append_as_completed",
    "append_records",
    "prompt_id",
    "read_records",
    "write_records",
]

M = TypeVar("M", bound=BaseModel)

PromptSource = Literal["probe", "generated", "file"]
"""Where a training prompt came from: a trait's own probes, a model writing more, or a file the user gave."""
Split = Literal["train", "held_out"]
"""``train`` prompts are trained on; ``held_out`` ones (like them, never trained on) measure the result."""


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrainingPrompt(_Record):
    """A user message the character is trained (or measured) on."""

    id: str
    """A short hash of the text: the same message has the same id in every file of the run."""
    text: Annotated[str, Field(min_length=1)]
    trait: str | None = None
    """The trait the message draws out, when it was written for one."""
    source: PromptSource
    split: Split = "train"


class PreferencePair(_Record):
    """A prompt with the character's reply (chosen) and the untrained student's default reply (rejected)."""

    prompt_id: str
    prompt: str
    """The user message."""
    trait: str | None = None
    split: Split = "train"
    chosen: str
    """The teacher's reply, staged as the character."""
    rejected: str
    """The student's reply without the character (its default persona)."""
    teacher: str
    student: str


class PairVerdict(_Record):
    """The judge's verdict on a pair: how much more consistent with the character the chosen reply is."""

    prompt_id: str
    p_chosen: float | None
    """Probability the judge gives the chosen reply being more consistent, averaged over both presentation orders;
    ``None`` when the judge gave no usable answer."""
    margin: float | None
    """``p_chosen - (1 - p_chosen)``, in [-1, 1]."""
    kept: bool
    reason: str
    """Why the pair was kept or dropped, in words."""
    rationale: str = ""
    """The judge's explanation, in its own words."""
    passages: list[str] = []
    """The corpus passages the judge was shown (corpus-grounded characters)."""


class IntrospectionSample(_Record):
    """A self-reflection or a conversation with itself, written by the trained student as the character."""

    id: str
    kind: Literal["reflection", "interaction"]
    messages: list[dict[str, str]]
    """The conversation as ``{"role", "content"}`` messages, without the character's system prompt: SFT on them
    teaches the student to be the character unprompted."""
    kept: bool
    reason: str
    """Why it was kept or filtered out."""


def prompt_id(text: str) -> str:
    """A stable short id of a prompt's text."""
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()[:12]


def read_records(path: Path, model: type[M]) -> list[M]:
    """Read a run's records back; a missing file is no records.

    A last line without its newline was cut short by a kill and is left out; any other bad line is an error.

    Raises:
        DataFileError: a line (other than a cut-short last one) is not a valid record; the message names it.
    """
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    complete = lines[:-1]  # text ends with "\n" when the last record is whole; the rest is a cut-short line
    records: list[M] = []
    problems: list[FileProblem] = []
    for number, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
            records.append(model.model_validate(value))
        except json.JSONDecodeError as error:
            problems.append(FileProblem(f"not valid JSON: {error.msg} (column {error.colno})", line=number))
        except ValidationError as error:
            problems.extend(
                validation_problems(
                    error, value, line=number, describe=lambda detail: describe_problem(detail, syntax="json")
                )
            )
    if problems:
        raise DataFileError(path, problems)
    if lines[-1].strip():
        # Drop the partial line from the file too, so that the next append starts on a line of its own.
        with path.open("w", encoding="utf-8") as handle:
            handle.writelines(f"{line}\n" for line in complete)
    return records


def append_records(path: Path, records: Iterable[BaseModel]) -> None:
    """Append records to a run's file, each line flushed to disk before the next is written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        for record in records:
            handle.write(record.model_dump_json() + "\n")
            handle.flush()
            os.fsync(handle.fileno())


R = TypeVar("R", bound=BaseModel)


async def append_as_completed(path: Path, jobs: Iterable[Awaitable[R]]) -> list[R]:
    """Run jobs concurrently, appending each record to ``path`` as soon as its job finishes.

    A job that fails does not stop the others: every record that can be made is written first, and then the first
    error is raised (so a rerun has only the failed work left to do).

    Returns:
        The records, in the order the jobs finished.
    """
    records: list[R] = []
    errors: list[BaseException] = []

    async def run(job: Awaitable[R]) -> None:
        try:
            record = await job
        except Exception as error:  # kept, and raised once every other job has settled
            errors.append(error)
            return
        append_records(path, [record])
        records.append(record)

    await asyncio.gather(*(run(job) for job in jobs))
    if errors:
        raise errors[0]
    return records


def write_records(path: Path, records: Iterable[BaseModel]) -> None:
    """Write a whole file of records at once (through a temporary file, so a kill never leaves half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text("".join(record.model_dump_json() + "\n" for record in records), encoding="utf-8")
    partial.replace(path)
