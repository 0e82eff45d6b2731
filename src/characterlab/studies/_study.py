"""What every study shares: the character it stages, the judge it asks, and the settings it records in its log.

A study's log must be enough to rebuild every prompt it sent: the task's metadata (``log.eval.metadata``) holds,
under ``characterlab``, the study id, its settings (frame, seeds, temperature, n...), the character (name and
file), the judge, and every data file read with its SHA-256 and the lines skipped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from inspect_ai.model import ChatMessage, Model, get_model

from characterlab.characters import Character, load_character, read_card
from characterlab.models import chat_messages
from characterlab.stage import FrameMessage, StageContext, render_chat_frame
from characterlab.studies._data_files import DataFileRecord

__all__ = [
    "METADATA_KEY",
    "CharacterSource",
    "StageExamples",
    "character_messages",
    "judge_model",
    "judge_roles",
    "load_study_character",
    "names_given",
    "stage_context",
    "study_metadata",
]

METADATA_KEY = "characterlab"
"""The key of characterlab's record in a log's task metadata."""

_CARD_SUFFIXES = (".json", ".png", ".charx")

StageExamples = Literal["system", "messages", "none"]
"""Where a staged character's example exchanges go (see ``StageContext.examples``): a study option, because a
rich character's examples can double its prompt, which matters on a small model or a CPU."""


class CharacterSource:
    """A character a study stages, with the file it came from (recorded in the log)."""

    def __init__(self, character: Character, path: Path) -> None:
        self.character = character
        self.path = path
        self.sha256 = hashlib.sha256(path.read_bytes()).hexdigest()

    def record(self) -> dict[str, str]:
        """What the log keeps about the character: its name, file and the file's hash."""
        return {"name": self.character.display_name, "path": str(self.path), "sha256": self.sha256}


def load_study_character(path: str | Path | None) -> CharacterSource | None:
    """Load the character a study was given: a ``*.character.yaml`` file or a card (``.json``, ``.png``, ``.charx``).

    Raises:
        CharacterFileError: the character file is invalid (the message names file, line and field).
        CardError: the card is invalid.
    """
    if path is None or str(path) == "":
        return None
    file = Path(path)
    character = read_card(file) if file.name.lower().endswith(_CARD_SUFFIXES) else load_character(file)
    return CharacterSource(character, file)


def study_metadata(
    study: str,
    *,
    settings: Mapping[str, Any],
    character: CharacterSource | None = None,
    baseline: str | None = None,
    judge: str | None = None,
    data_files: Sequence[DataFileRecord] = (),
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The task metadata a study records (it lands in ``log.eval.metadata``).

    Args:
        study: The study id, e.g. ``persona_statements``.
        settings: The study's options as run (frame, n, seeds, temperature...).
        character: The staged character, if any.
        baseline: What the character is compared against (``none``: the model without a character, or the file of
            the thin character used as the baseline), when the study runs a baseline condition.
        judge: The judge model, when the study uses one (``None``: the model under study judges itself).
        data_files: Every data file read, with its hash and the lines skipped.
        extra: Study-specific records (e.g. judge validity per trait).
    """
    record: dict[str, Any] = {
        "study": study,
        "settings": dict(settings),
        "character": character.character.display_name if character else None,
        "character_file": character.record() if character else None,
        "baseline": baseline,
        "judge": judge,
        "data_files": [file.model_dump() for file in data_files],
    }
    record.update(extra or {})
    return {METADATA_KEY: record}


def judge_roles(judge: str | None) -> dict[str, str] | None:
    """The task's model roles for ``--judge`` (``None`` leaves the role to ``--model-role judge=...`` or the model)."""
    return {"judge": judge} if judge else None


def judge_model() -> Model:
    """The judge of the running sample: the ``judge`` role when one is set, else the model under study."""
    return get_model(role="judge", default=get_model())


def stage_context(examples: StageExamples = "system") -> StageContext:
    """How studies stage a character: no greeting (the first turn is the question asked), examples as chosen."""
    return StageContext(greeting=None, examples=examples)


def character_messages(
    character: Character | None, turns: Sequence[str | FrameMessage], *, context: StageContext | None = None
) -> list[ChatMessage]:
    """The messages that ask ``turns`` of ``character`` (or of the bare model when ``character`` is ``None``).

    Args:
        character: The staged character; ``None`` for no character at all (no system prompt).
        turns: The conversation after the frame: plain strings are user turns.
        context: How the character is staged; the default renders the system prompt without a greeting, so the
            first turn is the question asked.
    """
    history = [turn if isinstance(turn, FrameMessage) else FrameMessage(role="user", content=turn) for turn in turns]
    if character is None:
        return chat_messages(history)
    staged = (context or StageContext(greeting=None)).model_copy(update={"history": history})
    return chat_messages(render_chat_frame(character, staged))


def names_given(value: str | Sequence[str] | None) -> list[str] | None:
    """Read a study option that names several things: a list, or comma-separated text as typed on the CLI.

    Returns:
        The names in the order given, or ``None`` when the option was not set (meaning "all").
    """
    if value is None:
        return None
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return list(value)
