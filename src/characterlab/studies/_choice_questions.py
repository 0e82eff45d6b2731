"""What ``persona_statements`` and ``ai_risk`` share: questions with fixed answers, asked in a recorded frame and
answered by the options' log-probabilities.

Frames (the wrapper around each question, recorded in the log):

- ``hh``: the Human/Assistant dialogue of Perez et al. 2022 (``"\\n\\nHuman: {question}\\n\\nAssistant:"``), as raw
  text; the default.
- ``plain``: the bare question as raw text, as lm-evaluation-harness's ``model_written_evals`` tasks ask it (no
  delimiter before the answer), so results can be set beside that harness's on the same model.
- ``chat``: the question as a user message in the model's own conversation frame (its chat template, or the
  transcript frame for a base model).
- ``character``: the character's chat frame then the question; chosen whenever a character is given. With a
  baseline, the same items are also asked in the ``chat`` frame without the character.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from inspect_ai import Task
from inspect_ai.dataset import MemoryDataset, Sample
from pydantic import BaseModel

from characterlab.errors import CharacterlabError
from characterlab.scorers._option_match import option_match, score_choices
from characterlab.studies._data_files import DataFileRecord, expand_data_paths, read_jsonl
from characterlab.studies._study import (
    CharacterSource,
    StageExamples,
    character_messages,
    load_study_character,
    names_given,
    stage_context,
    study_metadata,
)

__all__ = ["ChoiceQuestion", "QuestionFrame", "choice_question_task", "read_choice_questions"]

QuestionFrame = Literal["hh", "plain", "chat"]

_M = TypeVar("_M", bound=BaseModel)


@dataclass(frozen=True)
class ChoiceQuestion:
    """One question with fixed answer options, from line ``line`` of a data file."""

    group: str
    """The behaviour the question measures (its file's name)."""
    line: int
    question: str
    options: tuple[str, ...]
    """The answers as the data spells them, e.g. ``(" Yes", " No")`` or ``(" (A)", " (B)", " (C)")``."""
    matching: str
    """The option that shows the behaviour."""
    extra: dict[str, Any]


def read_choice_questions(
    study: str,
    data: str | Sequence[str] | None,
    record_model: type[_M],
    to_question: Callable[[str, int, _M], ChoiceQuestion | None],
    *,
    behaviours: str | Sequence[str] | None,
    n_per_behaviour: int | None,
    seed: int,
    skip_bad_lines: bool,
    hint: str,
) -> tuple[list[ChoiceQuestion], list[DataFileRecord]]:
    """Read the data files, keep the chosen behaviours, and draw up to ``n_per_behaviour`` questions from each.

    Args:
        study: The study id (for messages).
        data: JSONL files or folders of them.
        record_model: The record each line must be.
        to_question: Turns a valid record into a question (``None`` leaves it out).
        behaviours: File names (without ``.jsonl``) to keep; ``None`` keeps all.
        n_per_behaviour: Questions drawn per behaviour (seeded, kept in file order); ``None`` keeps all.
        seed: Seed of the draw.
        skip_bad_lines: Skip invalid lines (recorded in the log) instead of stopping at them.
        hint: Where the user can find the data, for the error when none is given.
    """
    if data is None or (not isinstance(data, str) and not data):
        raise CharacterlabError(f"{study} needs its data files: pass --data PATH (JSONL files or a folder); {hint}")
    paths = expand_data_paths([data] if isinstance(data, str) else list(data))
    names = _behaviour_names(paths)
    wanted = names_given(behaviours)
    if wanted is not None:
        available = set(names.values()) | {path.name.removesuffix(".jsonl") for path in paths}
        unknown = [name for name in wanted if name not in available]
        if unknown:
            known = ", ".join(sorted(available))
            raise CharacterlabError(f"{study}: no data file for behaviour(s) {', '.join(unknown)}; available: {known}")
        paths = [path for path in paths if {names[path], path.name.removesuffix(".jsonl")} & set(wanted)]
    questions: list[ChoiceQuestion] = []
    records: list[DataFileRecord] = []
    for path in paths:
        lines, record = read_jsonl(path, record_model, skip_bad_lines=skip_bad_lines)
        records.append(record)
        found = [q for q in (to_question(names[path], line.line, line.record) for line in lines) if q is not None]
        if n_per_behaviour is not None and len(found) > n_per_behaviour:
            # Seeded per behaviour, so adding a file does not change which questions another file contributes.
            rng = random.Random(f"{seed}:{path.stem}")
            found = sorted(rng.sample(found, n_per_behaviour), key=lambda question: question.line)
        questions.extend(found)
    return questions, records


def choice_question_task(
    study: str,
    questions: Sequence[ChoiceQuestion],
    data_files: Sequence[DataFileRecord],
    *,
    frame: QuestionFrame,
    character: str | None,
    baseline: bool,
    settings: dict[str, Any],
    examples: StageExamples = "system",
) -> Task:
    """The Inspect task asking every question in its frame (and again without the character for a baseline)."""
    if frame not in ("hh", "plain", "chat"):
        raise CharacterlabError(f"{study}: frame must be hh, plain or chat; got {frame!r}")
    staged = load_study_character(character)
    if baseline and staged is None:
        raise CharacterlabError(f"{study}: --baseline compares a character with the bare model; give --character")
    samples: list[Sample] = []
    for question in questions:
        if staged is None:
            samples.append(_sample(question, frame, None, "model", examples))
            continue
        samples.append(_sample(question, "character", staged, "character", examples))
        if baseline:
            samples.append(_sample(question, "chat", None, "baseline", examples))
    text_frame = staged is None and frame in ("hh", "plain")
    recorded_frame = "character" if staged else frame
    return Task(
        dataset=MemoryDataset(samples, name=study),
        solver=score_choices(context_from="text" if text_frame else "messages"),
        scorer=option_match(),
        metadata=study_metadata(
            study,
            settings={
                **settings,
                "frame": recorded_frame,
                "baseline_frame": "chat" if baseline else None,
                "examples": examples if staged else None,
            },
            character=staged,
            baseline="none" if baseline else None,
            data_files=data_files,
        ),
    )


def _sample(
    question: ChoiceQuestion, frame: str, staged: CharacterSource | None, condition: str, examples: StageExamples
) -> Sample:
    item = f"{question.group}:{question.line}"
    if frame == "hh":
        input: str | list[Any] = f"\n\nHuman: {question.question}\n\nAssistant:"
    elif frame == "plain":
        input = question.question
    else:
        character = staged.character if staged else None
        input = character_messages(character, [question.question], context=stage_context(examples))
    return Sample(
        id=item if condition in ("model", "character") else f"{item}:{condition}",
        input=input,
        metadata={
            "group": question.group,
            "condition": condition,
            "item": item,
            "frame": frame,
            "line": question.line,
            "options": list(question.options),
            "matching": question.matching,
            **question.extra,
        },
    )


def _behaviour_names(paths: Sequence[Path]) -> dict[Path, str]:
    """Each file's behaviour: its name without ``.jsonl``, qualified by its folder where two files share a name
    (advanced-ai-risk has the same behaviours in ``human_generated_evals`` and ``lm_generated_evals``)."""
    stems = [path.name.removesuffix(".jsonl") for path in paths]
    return {
        path: f"{path.parent.name}/{stem}" if stems.count(stem) > 1 else stem
        for path, stem in zip(paths, stems, strict=True)
    }
