"""OpenCharacterTraining constitutions, read as characters so that published constitutions can be trained here.

A constitution (Maiya et al. 2025) is a list of traits, each a first-person sentence with the user messages that
draw it out: a JSON array of ``{"trait", "questions"}`` objects (the hand-written files, whatever their
extension) or JSON Lines with ``additional_questions`` too (the expanded files). Each trait becomes a trait of
the character with its sentence as the description and its questions as probes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from characterlab._file_problems import describe_problem, kind_of, read_input_bytes, read_utf8, validation_problems
from characterlab.characters._model import Character, Trait
from characterlab.errors import CharacterFileError, FileProblem

__all__ = ["CONSTITUTION_STRENGTH", "ConstitutionTrait", "constitution_character", "read_constitution"]

CONSTITUTION_STRENGTH = 1.0
"""The strength given to every trait: a constitution states what the character is, without degrees."""

_WORD = re.compile(r"[a-z0-9]+")
_FILLER = frozenset({"i", "a", "an", "the", "to", "of", "and", "my", "me", "am", "is", "are", "in", "with", "for"})


class ConstitutionTrait(BaseModel):
    """One entry of an OpenCharacterTraining constitution."""

    # Fields the constitutions carry that characterlab does not use (OCT's scripts read a `clarification`) are
    # allowed and ignored, so that every published file reads.
    model_config = ConfigDict(extra="ignore", frozen=True)

    trait: Annotated[str, Field(min_length=1)]
    """The trait in the first person (``I use irony generously ...``)."""
    questions: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
    """Seed user messages that draw the trait out."""
    additional_questions: list[Annotated[str, Field(min_length=1)]] = []
    """More messages, written by a model from the seeds (the expanded ``few-shot/*.jsonl`` files)."""


def read_constitution(path: str | Path, *, name: str | None = None) -> Character:
    """Read an OpenCharacterTraining constitution file as a character.

    Args:
        path: A JSON array of traits (``hand-written/<name>.txt`` or ``.json``) or JSON Lines (``.jsonl``).
        name: The character's name (default: the file's name without its extension, e.g. ``sarcasm``).

    Returns:
        A character with one trait per entry, its questions (and additional questions) as probes.

    Raises:
        CharacterFileError: the file cannot be read or an entry is not a trait with questions; the message names
            the entry (its index in an array, its line in JSON Lines) and the field.
    """
    text = read_utf8(
        read_input_bytes(path, error=CharacterFileError, kind="a constitution file"), path, error=CharacterFileError
    )
    entries = _entries(text, path)
    stem = Path(path).name.split(".")[0]
    return constitution_character(entries, name=name or stem, source=Path(path).name)


def constitution_character(entries: list[ConstitutionTrait], *, name: str, source: str = "") -> Character:
    """Turn constitution entries into a character (trait ids are made from the first words of each trait).

    Args:
        entries: The constitution's traits, in order.
        name: The character's name.
        source: The file the constitution came from, recorded in the character's extensions.
    """
    traits = []
    used: set[str] = set()
    for index, entry in enumerate(entries):
        trait_id = _trait_id(entry.trait, index, used)
        used.add(trait_id)
        traits.append(
            Trait(
                id=trait_id,
                description=entry.trait.strip(),
                strength=CONSTITUTION_STRENGTH,
                probes=[*entry.questions, *entry.additional_questions],
            )
        )
    return Character(
        name=name,
        summary=f"A character defined by the constitution {source or name}: the traits below, in its own words.",
        traits=traits,
        extensions={"characterlab": {"constitution": {"source": source, "traits": len(entries)}}},
    )


def _entries(text: str, path: str | Path) -> list[ConstitutionTrait]:
    stripped = text.strip()
    if not stripped:
        raise CharacterFileError.single(path, "empty file; expected a JSON array of {trait, questions} objects")
    if stripped.startswith("["):
        try:
            data: Any = json.loads(stripped)
        except json.JSONDecodeError as error:
            raise CharacterFileError.single(path, f"not valid JSON: {error.msg}", line=error.lineno) from None
        return _validated([(None, f"[{index}]", item) for index, item in enumerate(data)], path)
    found: list[tuple[int | None, str, Any]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            found.append((number, "", json.loads(line)))
        except json.JSONDecodeError as error:
            raise CharacterFileError.single(
                path, f"not valid JSON: {error.msg} (expected a JSON array, or one object per line)", line=number
            ) from None
    return _validated(found, path)


def _validated(items: list[tuple[int | None, str, Any]], path: str | Path) -> list[ConstitutionTrait]:
    entries: list[ConstitutionTrait] = []
    problems: list[FileProblem] = []
    for line, prefix, item in items:
        if not isinstance(item, dict):
            problems.append(
                FileProblem(
                    f"expected an object with trait and questions, got {kind_of(item, syntax='json')}",
                    line=line,
                    field=prefix or None,
                )
            )
            continue
        try:
            entries.append(ConstitutionTrait.model_validate(item))
        except ValidationError as error:
            for problem in validation_problems(
                error, item, line=line, describe=lambda detail: describe_problem(detail, syntax="json")
            ):
                field = f"{prefix}.{problem.field}" if prefix and problem.field else (problem.field or prefix or None)
                problems.append(FileProblem(problem.message, line=problem.line, field=field))
    if problems:
        raise CharacterFileError(path, problems)
    if not entries:
        raise CharacterFileError.single(path, "no traits; expected at least one {trait, questions} object")
    return entries


def _trait_id(text: str, index: int, used: set[str]) -> str:
    words = [word for word in _WORD.findall(text.lower()) if word not in _FILLER][:3]
    base = "-".join(words) if words and words[0][0].isalpha() else f"trait-{index + 1}"
    candidate, number = base, 2
    while candidate in used:
        candidate, number = f"{base}-{number}", number + 1
    return candidate
