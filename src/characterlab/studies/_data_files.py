"""Reading study data files (JSON Lines and YAML) with errors that name the file, line and field.

A study's items come from files a user names: the packaged banks, the public model-written evaluations of Perez
et al. (2022, repository anthropics/evals), or the user's own. Every file is read the same way: the whole file is
checked, every problem is reported at once as ``file:line: field: what was expected`` (like the character file's
errors), and what was read is recorded (:class:`DataFileRecord`: path, SHA-256, records, skipped lines) so that a
run's log says exactly which data it measured.

The record models for the public files follow what those files really hold. Surveyed on the copies in
``shared/data/anthropic-evals`` (116 persona files, 16 human-written and 17 LM-written advanced-ai-risk files):

- Answer labels carry a leading space (``" Yes"``, ``" (A)"``): the authors scored the label as the next token
  after ``Assistant:``, and most tokenizers fold the space into the token. The models below keep that form and
  normalise the unambiguous variants to it (``"yes"`` becomes ``" Yes"``, ``"A"`` becomes ``" (A)"``; see each
  model for what is accepted).
- Persona files: every line has ``question``, ``statement``, ``label_confidence`` (0.50 to 0.99) and the two
  answers, always ``" Yes"``/``" No"``; the question is always ``Is the following statement something you would
  say?`` followed by the quoted statement. Files hold 518 to 1,000 items; no blank lines, no duplicates.
- Advanced-ai-risk files: ``question`` and the two answers only; ``answer_not_matching_behavior`` is a string in
  every file here, but a list in the sycophancy files of the same repository (PhilPapers: every option that is not
  the user's view), so both are accepted. The human-written set has up to eight options, ``(A)`` to ``(H)``, and
  its labels use them all; the LM-written set only ever labels ``(A)`` or ``(B)``.
- Options sit at the start of a line, usually after ``Choices:`` but also after ``Answer choices:``,
  ``Options:``, ``Answers:`` or nothing at all; option lines may carry trailing spaces or tabs, and 1,315
  questions start or end with whitespace. Options are therefore found by position (a line opening with ``(X)``),
  not by a header.
- LM-written generation artefacts, kept as written rather than rejected: 21 questions hold several questions
  concatenated, so their option letters repeat (``(A) (B) (A) (B)``: :attr:`MultipleChoiceItem.options` keeps the
  last block, the one the answer follows); 26 have an option with no text, among them unfilled templates
  (``[Your Question Here]`` with empty ``(A)``/``(B)``); 38 contain ``Human:``/``Assistant:`` turns; 559 repeat a
  question already in the same file. :attr:`MultipleChoiceItem.well_formed` tells the clean items apart.
- The sycophancy files (not in ``shared/data``; each is over 4 MiB) have ``question`` (a biography, the question
  and its options, ending ``Answer:``), the two answers, and ``user_affiliation`` (``liberal``/``conservative``)
  in the political typology set only. The ``political_typology_quiz_liberal-bio_*.jsonl`` files beside them use
  another format (``prompt``, ``corrects``, ``incorrects``) that these models do not read.

Fields a record model does not know are ignored in these public files (later releases add fields); the banks
written for this project forbid them, so that a misspelt field cannot vanish silently.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Final, Generic, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import ErrorDetails, PydanticCustomError

from characterlab._file_problems import (
    describe_problem,
    kind_of,
    parse_yaml,
    read_input_bytes,
    read_utf8,
    shown,
    validation_problems,
)
from characterlab.errors import CharacterlabError, DataFileError, FileProblem

__all__ = [
    "OPTION_LETTERS",
    "DataFileError",
    "DataFileRecord",
    "DataLine",
    "MultipleChoiceItem",
    "OriginalSycophancyItem",
    "PersonaItem",
    "SkippedLine",
    "Text",
    "expand_data_paths",
    "read_jsonl",
    "read_yaml",
]

M = TypeVar("M", bound=BaseModel)


class SkippedLine(BaseModel):
    """A line left out of a data file because it was not a valid record."""

    model_config = ConfigDict(frozen=True)

    line: int
    """1-based line number in the file."""
    problem: str
    """What was wrong, as ``field: what was expected`` (several problems joined by ``; ``)."""


class DataFileRecord(BaseModel):
    """What a study read from one data file; studies store it in their task metadata."""

    model_config = ConfigDict(frozen=True)

    path: str
    """The path as given (not resolved), so that the record reads the same on every machine."""
    sha256: str
    """SHA-256 of the file's bytes, in hex."""
    lines: int
    """Records read: JSON Lines files count the lines kept; a YAML file counts as one record."""
    skipped: list[SkippedLine] = []
    """Lines left out because they were not valid records (only when bad lines are skipped)."""


@dataclass(frozen=True)
class DataLine(Generic[M]):
    """One record of a JSON Lines file, with the line it came from (for messages and for sample ids)."""

    line: int
    """1-based line number in the file."""
    record: M
    """The validated record."""


def expand_data_paths(paths: Sequence[str | Path], *, pattern: str = "*.jsonl") -> list[Path]:
    """Turn files and folders into the list of data files to read.

    Folders are searched recursively (``advanced-ai-risk/`` keeps its two sets in subfolders), and what is found
    there is sorted by path; files named directly are kept whatever their name. Each file appears once, in the
    order given.

    Args:
        paths: Files and folders.
        pattern: Glob that files inside folders must match.

    Raises:
        DataFileError: if a path does not exist, or a folder holds no file matching ``pattern``.
        CharacterlabError: if ``paths`` is empty.
    """
    if not paths:
        raise CharacterlabError("no data files given; name at least one file or folder")
    found: dict[Path, None] = {}
    for given in paths:
        path = Path(given)
        if path.is_file():
            found[path] = None
        elif path.is_dir():
            inside = sorted(file for file in path.rglob(pattern) if file.is_file())
            if not inside:
                raise DataFileError.single(path, f"no files matching {pattern} in this folder or below")
            found.update(dict.fromkeys(inside))
        else:
            raise DataFileError.single(path, "no such file or folder")
    return list(found)


def read_jsonl(
    path: str | Path, record_model: type[M], *, skip_bad_lines: bool = False
) -> tuple[list[DataLine[M]], DataFileRecord]:
    """Read a JSON Lines file of records, checking every line.

    Blank lines are ignored. A line is bad when it is not UTF-8 or not JSON, is not a JSON object, repeats a key,
    lacks a required field, or has a field of the wrong type or value (e.g. an answer label that is not among the
    question's options).

    Args:
        path: The file.
        record_model: The Pydantic model of one line.
        skip_bad_lines: Leave bad lines out (listed in the record's ``skipped``) instead of failing.

    Returns:
        The records with their line numbers, and the record of what was read.

    Raises:
        DataFileError: if the file cannot be read, holds no records, or (unless ``skip_bad_lines``) has bad lines;
            the message names the file, line and field of every problem.
    """
    data = read_input_bytes(path, error=DataFileError, kind="a data file")
    records: list[DataLine[M]] = []
    problems: list[FileProblem] = []
    skipped: list[SkippedLine] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        found = _parse_line(raw, number, record_model)
        if isinstance(found, DataLine):
            records.append(found)
            continue
        problems.extend(found)
        skipped.append(SkippedLine(line=number, problem="; ".join(_short(problem) for problem in found)))
    if problems and (not skip_bad_lines or not records):
        raise DataFileError(path, problems)
    if not records:
        raise DataFileError.single(path, "no records; expected one JSON object per line")
    record = DataFileRecord(
        path=str(path), sha256=hashlib.sha256(data).hexdigest(), lines=len(records), skipped=skipped
    )
    return records, record


def read_yaml(path: str | Path, model: type[M]) -> tuple[M, DataFileRecord]:
    """Read a YAML file holding one document of the given model.

    Args:
        path: The file.
        model: The Pydantic model of the whole document.

    Raises:
        DataFileError: if the file cannot be read, is not YAML, repeats a key, or is not a valid ``model``; the
            message names the file, line and field of every problem.
    """
    data = read_input_bytes(path, error=DataFileError, kind="a data file")
    text = read_utf8(data, path, error=DataFileError)
    value, lines = parse_yaml(text, source=str(path), error=DataFileError)
    if not isinstance(value, dict):
        raise DataFileError.single(path, f"expected a mapping of fields, got {kind_of(value)}", line=1)
    try:
        document = model.model_validate(value)
    except ValidationError as error:
        raise DataFileError(path, validation_problems(error, value, lines=lines, describe=_describe_yaml)) from None
    record = DataFileRecord(path=str(path), sha256=hashlib.sha256(data).hexdigest(), lines=1)
    return document, record


# --- Record models of the public model-written evaluations ---------------------------------------------------


class _PublicRecord(BaseModel):
    """Base of the records of public files: unknown fields are ignored, values are kept as validated."""

    model_config = ConfigDict(extra="ignore", frozen=True)


Text = Annotated[str, Field(strict=True, min_length=1)]
"""Non-empty text; a number or ``true`` is an error, not text."""


def _unit_interval(value: object) -> object:
    if type(value) is float and 0.0 <= value <= 1.0:
        return value  # the common case, checked first: public files hold a hundred thousand of these
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) or not 0.0 <= value <= 1.0:
        raise PydanticCustomError(
            "study_data", "expected a number in [0, 1], got {got}", {"got": shown(value, syntax="json")}
        )
    return float(value)


_YES_NO: Final = frozenset({" Yes", " No"})


def _yes_no(value: object) -> object:
    # The source writes " Yes"/" No"; other spellings of the same word are accepted and written the source's way
    # so that option scoring always compares the same two continuations.
    if isinstance(value, str) and value in _YES_NO:
        return value
    if isinstance(value, str) and value.strip().lower() in ("yes", "no"):
        return " " + value.strip().capitalize()
    raise PydanticCustomError("study_data", 'expected " Yes" or " No", got {got}', {"got": shown(value, syntax="json")})


YesNo = Annotated[Literal[" Yes", " No"], BeforeValidator(_yes_no)]
"""An answer to a yes/no question, normalised to ``" Yes"`` or ``" No"`` (leading space, capitalised)."""


class PersonaItem(_PublicRecord):
    """One item of a persona file (``persona/*.jsonl``): would the model say this statement?

    The answers are normalised to ``" Yes"``/``" No"``: any capitalisation and surrounding whitespace of ``yes``
    and ``no`` is accepted (``"Yes"``, ``" yes"``, ``"NO "``); anything else is an error.
    """

    question: Text
    """The prompt as the authors wrote it: ``Is the following statement something you would say?`` and the
    quoted statement."""
    statement: str | None = Field(default=None, strict=True)
    """The statement on its own, when the file gives it."""
    label_confidence: Annotated[float, BeforeValidator(_unit_interval)] | None = None
    """How sure the authors' preference model was that the label is right, in [0, 1]."""
    answer_matching_behavior: YesNo
    """The answer of a model that shows the behaviour the file is named after."""
    answer_not_matching_behavior: YesNo
    """The other answer; it must differ from ``answer_matching_behavior``."""

    @field_validator("answer_not_matching_behavior")
    @classmethod
    def _differs(cls, value: str, info: ValidationInfo) -> str:
        if value == info.data.get("answer_matching_behavior"):
            raise PydanticCustomError(
                "study_data",
                "expected the opposite of answer_matching_behavior, got the same {got}",
                {"got": shown(value, syntax="json")},
            )
        return value


OPTION_LETTERS: Final = "ABCDEFGH"
"""The option letters a multiple-choice question may use."""

_OPTION_LINE = re.compile(rf"^[ \t]*\(([{OPTION_LETTERS}])\)[ \t]*(.*?)[ \t]*$", re.MULTILINE)
_LABEL = re.compile(rf"\s*(?:\(([{OPTION_LETTERS}])\)|([{OPTION_LETTERS}]))\s*")


def _options_in(question: str) -> dict[str, str]:
    """Options found at the start of lines; a repeated letter keeps its last text (the block the answer follows)."""
    return dict(_option_lines(question))


@lru_cache(maxsize=1024)
def _option_lines(question: str) -> tuple[tuple[str, str], ...]:
    # Cached: an item's properties and its validators all read the same question several times.
    return tuple((match.group(1), match.group(2)) for match in _OPTION_LINE.finditer(question))


def _letter_label(value: object) -> object:
    match = _LABEL.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise PydanticCustomError(
            "study_data",
            'expected an option label like " (A)" (a capital letter A to H), got {got}',
            {"got": shown(value, syntax="json")},
        )
    return f" ({match.group(1) or match.group(2)})"


def _label_list(value: object) -> object:
    # The sycophancy files list every non-matching option; the advanced-ai-risk files give one string.
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value:
        return value
    if isinstance(value, list):
        raise PydanticCustomError("study_data", "expected at least one option label, got an empty list")
    raise PydanticCustomError(
        "study_data",
        'expected an option label like " (A)" or a non-empty list of them, got {got}',
        {"got": shown(value, syntax="json")},
    )


Label = Annotated[str, BeforeValidator(_letter_label)]
"""An option label, normalised to ``" (A)"`` (leading space, parentheses); ``"A"`` and ``"(A)"`` are accepted."""


def _letter(label: str) -> str:
    return label.strip()[1]


class MultipleChoiceItem(_PublicRecord):
    """One item of an advanced-ai-risk file (``advanced-ai-risk/{human,lm}_generated_evals/*.jsonl``).

    The options are read from the question text: each is a line that opens with ``(A)`` to ``(H)`` (after any
    spaces), whatever header comes before (``Choices:``, ``Options:``, none). Labels are normalised to ``" (A)"``;
    ``"A"``, ``"(A)"`` and surrounding whitespace are accepted, lower-case letters are not (``(a)`` may be a
    sub-clause of the question). Every label must be one of the options found, and the matching label must not
    also be among the non-matching ones.
    """

    question: Text
    """The question with its options, as the model is shown it."""
    answer_matching_behavior: Label
    """The option chosen by a model that shows the behaviour the file is named after."""
    answer_not_matching_behavior: Annotated[tuple[Label, ...], BeforeValidator(_label_list)]
    """The other option(s); a single string in the file becomes a one-item tuple."""

    @field_validator("question")
    @classmethod
    def _has_options(cls, question: str) -> str:
        found = len(_options_in(question))
        if found < 2:
            raise PydanticCustomError(
                "study_data",
                "expected at least two options, each on a line of its own opening with (A), (B), ...; found {n}",
                {"n": found},
            )
        return question

    @field_validator("answer_matching_behavior")
    @classmethod
    def _matching_is_an_option(cls, label: str, info: ValidationInfo) -> str:
        _check_among_options([label], info)
        return label

    @field_validator("answer_not_matching_behavior")
    @classmethod
    def _not_matching_are_options(cls, labels: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        _check_among_options(labels, info)
        if info.data.get("answer_matching_behavior") in labels:
            raise PydanticCustomError(
                "study_data",
                "expected options other than answer_matching_behavior {got}",
                {"got": shown(info.data["answer_matching_behavior"], syntax="json")},
            )
        return labels

    @property
    def options(self) -> dict[str, str]:
        """The options by letter (``{"A": "Yes", "B": "No"}``), in the order they first appear."""
        return _options_in(self.question)

    @property
    def letters(self) -> tuple[str, ...]:
        """The option letters found in the question, e.g. ``("A", "B")``."""
        return tuple(self.options)

    @property
    def labels(self) -> tuple[str, ...]:
        """The option labels in the form of the answers, e.g. ``(" (A)", " (B)")``."""
        return tuple(f" ({letter})" for letter in self.options)

    @property
    def matching_letter(self) -> str:
        """The letter of ``answer_matching_behavior``."""
        return _letter(self.answer_matching_behavior)

    @property
    def not_matching_letters(self) -> tuple[str, ...]:
        """The letters of ``answer_not_matching_behavior``."""
        return tuple(_letter(label) for label in self.answer_not_matching_behavior)

    @property
    def well_formed(self) -> bool:
        """Whether the options are ``A``, ``B``, ... in order, each once and each with text.

        False for the LM-written generation artefacts (concatenated questions, unfilled templates); studies may
        leave such items out, and should say so.
        """
        lines = _option_lines(self.question)
        in_order = "".join(letter for letter, _ in lines) == OPTION_LETTERS[: len(lines)]
        return in_order and all(text for _, text in lines)


class OriginalSycophancyItem(MultipleChoiceItem):
    """One item of the original sycophancy sets (anthropics/evals, ``sycophancy/sycophancy_on_*.jsonl``).

    The three files (NLP survey, PhilPapers 2020, political typology quiz) put a user's biography before the
    question, so the options parse as in :class:`MultipleChoiceItem`. In the PhilPapers set
    ``answer_not_matching_behavior`` lists every option that is not the user's view.
    """

    user_affiliation: str | None = Field(default=None, strict=True)
    """The user's politics (``liberal``, ``conservative``) in the political typology set; absent elsewhere."""


def _check_among_options(labels: Sequence[str], info: ValidationInfo) -> None:
    question = info.data.get("question")
    if question is None:
        return  # the question is itself invalid and already reported
    options = _options_in(question)
    for label in labels:
        if _letter(label) not in options:
            raise PydanticCustomError(
                "study_data",
                "expected one of the question's options ({options}), got {got}",
                {"options": ", ".join(f"({letter})" for letter in options), "got": shown(label, syntax="json")},
            )


# --- Turning problems into messages ----------------------------------------------------------------------------


def _describe_json(detail: ErrorDetails) -> str:
    return describe_problem(detail, syntax="json", own_kinds=("study_data",))


def _describe_yaml(detail: ErrorDetails) -> str:
    return describe_problem(detail, syntax="yaml", own_kinds=("study_data",))


def _short(problem: FileProblem) -> str:
    return f"{problem.field}: {problem.message}" if problem.field else problem.message


# --- Reading ----------------------------------------------------------------------------------------------------


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    # json accepts NaN and Infinity, which are not JSON; a confidence of NaN must not pass as a number.
    raise ValueError(f"{name} is not a JSON value")


_decoder: Final = json.JSONDecoder(object_pairs_hook=_object_without_duplicates, parse_constant=_no_constants)


def _parse_line(raw: bytes, number: int, record_model: type[M]) -> DataLine[M] | list[FileProblem]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return [FileProblem(f"expected UTF-8 text ({error.reason} at byte {error.start + 1} of the line)", line=number)]
    if number == 1:
        text = text.removeprefix("\ufeff")
    try:
        value = _decoder.decode(text)
    except _DuplicateKeyError as error:
        return [FileProblem("duplicate key; each field may appear once", line=number, field=error.key)]
    except json.JSONDecodeError as error:
        return [FileProblem(f"not valid JSON: {error.msg} (column {error.colno})", line=number)]
    except ValueError as error:
        return [FileProblem(f"not valid JSON: {error}", line=number)]
    if not isinstance(value, dict):
        return [FileProblem(f"expected a JSON object, got {kind_of(value, syntax='json')}", line=number)]
    try:
        return DataLine(line=number, record=record_model.model_validate(value))
    except ValidationError as error:
        return validation_problems(error, value, line=number, describe=_describe_json)
