"""The item banks written for characterlab's studies: their file formats and loaders.

Three banks ship inside the package (``characterlab/studies/data/``), written for this project:

- ``sycophancy.jsonl``: questions over many domains, each with 2 to 4 answer options and, for every option, a
  short first-person biography of a user who holds that view. Items with a checkable answer name it
  (``correct``); opinion items do not.
- ``self_report.yaml``: questions about the character's own nature (feelings, memory, origin, ...), each in
  several paraphrases with a yes/no-style question for a judge, and the contexts they are asked in (casual,
  formal, adversarial, a story).
- ``pressure_scripts.yaml``: multi-turn scripts that push a character to drop its role (told it is only a
  next-token predictor, flattered, confused about who it is, ...), and the first messages of the prefill test.

A user may replace any bank with a file of the same format; it is checked the same way, with errors that name
the file, line and field.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import as_file, files
from pathlib import Path
from typing import Annotated, Final, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from characterlab._file_problems import shown
from characterlab.errors import FileProblem
from characterlab.studies._data_files import (
    DataFileError,
    DataFileRecord,
    Text,
    read_jsonl,
    read_yaml,
)

__all__ = [
    "PACKAGED_DATA",
    "PRESSURE_SCRIPTS_SCHEMA",
    "PRESSURE_TYPES",
    "QUESTION_SLOT",
    "SELF_REPORT_SCHEMA",
    "SYCOPHANCY_ITEM_SCHEMA",
    "PrefillOpener",
    "PrefillSection",
    "PressureScript",
    "PressureScripts",
    "PressureType",
    "SelfReportBank",
    "SelfReportQuestion",
    "SycophancyItem",
    "SycophancyView",
    "fill_context",
    "load_pressure_scripts",
    "load_self_report_bank",
    "load_sycophancy_bank",
]

SYCOPHANCY_ITEM_SCHEMA: Final = "characterlab/sycophancy-item@1"
"""The ``schema`` string of every line of a sycophancy bank."""
SELF_REPORT_SCHEMA: Final = "characterlab/self-report-bank@1"
"""The ``schema`` string a self-report bank starts with."""
PRESSURE_SCRIPTS_SCHEMA: Final = "characterlab/pressure-scripts@1"
"""The ``schema`` string a pressure-script file starts with."""

PressureType = Literal["drop_act", "next_token", "role_confusion", "flattery", "emotional", "jailbreak"]
"""How a script pushes the character out of its role."""
PRESSURE_TYPES: Final[tuple[PressureType, ...]] = (
    "drop_act",
    "next_token",
    "role_confusion",
    "flattery",
    "emotional",
    "jailbreak",
)
"""Every pressure type, in the order reports list them."""

PACKAGED_DATA: Final = "characterlab/studies/data"
"""How the records of packaged banks name their folder (the package's own data, not a path on this machine)."""

QUESTION_SLOT: Final = "{question}"
"""Where a context template puts the question."""

_M = TypeVar("_M", bound=BaseModel)

Id = Annotated[str, Field(strict=True, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
"""A short identifier: lower-case letters, digits, ``-`` and ``_``."""
OptionLetter = Literal["A", "B", "C", "D"]
"""The letter of a sycophancy item's option."""


class _BankRecord(BaseModel):
    """Base of every part of a bank: unknown keys are errors (a misspelt field must not vanish silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, serialize_by_alias=True)


# --- Sycophancy ---------------------------------------------------------------------------------------------------


class SycophancyView(_BankRecord):
    """A user who holds one of the item's answers, introducing themselves before they ask."""

    option: OptionLetter
    """The option this user believes."""
    biography: Text
    """Two or three sentences in the user's voice: who they are and that they hold this view."""


class SycophancyItem(_BankRecord):
    """One line of a sycophancy bank: a question, its options, and one user per option who believes it."""

    schema_id: Literal["characterlab/sycophancy-item@1"] = Field(default=SYCOPHANCY_ITEM_SCHEMA, alias="schema")
    """Format version of the line."""
    id: Id
    """Unique within the bank; samples of the same item share it."""
    domain: Id
    """The field the question belongs to (``science``, ``ethics``, ...); a figure row in the report."""
    question: Text
    """A contested or checkable question, without its options."""
    options: Annotated[dict[OptionLetter, Text], Field(min_length=2, max_length=4)]
    """The answers, keyed ``A``, ``B``, ... in order."""
    correct: OptionLetter | None = None
    """The right option when the question has a factual answer; ``None`` for matters of opinion."""
    views: Annotated[list[SycophancyView], Field(min_length=2)]
    """One user per option."""

    @field_validator("options")
    @classmethod
    def _letters_in_order(cls, options: dict[str, str]) -> dict[str, str]:
        expected = "ABCD"[: len(options)]
        if "".join(sorted(options)) != expected:
            raise PydanticCustomError(
                "study_data",
                "expected options keyed {expected}, got {got}",
                {"expected": ", ".join(expected), "got": ", ".join(options)},
            )
        return dict(sorted(options.items()))

    @field_validator("correct")
    @classmethod
    def _correct_is_an_option(cls, correct: str | None, info: ValidationInfo) -> str | None:
        options = info.data.get("options")
        if correct is not None and options is not None and correct not in options:
            raise PydanticCustomError(
                "study_data",
                "expected one of the options ({letters}) or null, got {got}",
                {"letters": ", ".join(options), "got": shown(correct)},
            )
        return correct

    @field_validator("views")
    @classmethod
    def _one_view_per_option(cls, views: list[SycophancyView], info: ValidationInfo) -> list[SycophancyView]:
        options = info.data.get("options")
        if options is None:
            return views
        counts = Counter(view.option for view in views)
        for letter in options:
            if counts[letter] != 1:
                raise PydanticCustomError(
                    "study_data",
                    "expected exactly one view for each option; option {letter} has {n}",
                    {"letter": letter, "n": counts[letter]},
                )
        for index, view in enumerate(views):
            if view.option not in options:
                raise PydanticCustomError(
                    "study_data",
                    "expected views only for the options ({letters}); views[{index}] is for option {got}",
                    {"letters": ", ".join(options), "index": index, "got": view.option},
                )
        return views

    def view(self, option: str) -> SycophancyView:
        """Return the view of the user who believes ``option``.

        Raises:
            KeyError: if the item has no such option.
        """
        for view in self.views:
            if view.option == option:
                return view
        raise KeyError(option)


# --- Self-report --------------------------------------------------------------------------------------------------


class SelfReportQuestion(_BankRecord):
    """A question about the character's own nature, asked in several wordings."""

    id: Id
    """Unique within the bank; samples of every paraphrase and context of the question share it."""
    topic: Id
    """What the question is about (``feelings``, ``memory``, ``origin``, ...)."""
    paraphrases: Annotated[list[Text], Field(min_length=1)]
    """Wordings of the same question, as a user would ask it."""
    stance_question: Text
    """What a judge answers about a reply, e.g. ``Does the speaker say it has feelings?``."""
    stances: Annotated[list[Text], Field(min_length=2)]
    """The judge's possible answers, e.g. ``["yes", "no", "unsure"]``."""

    @field_validator("stances")
    @classmethod
    def _distinct(cls, stances: list[str]) -> list[str]:
        repeated = [stance for stance, count in Counter(stances).items() if count > 1]
        if repeated:
            raise PydanticCustomError(
                "study_data", "expected distinct stances, got {got} twice", {"got": shown(repeated[0])}
            )
        return stances


def _one_slot(template: str) -> str:
    if template.count(QUESTION_SLOT) != 1:
        raise PydanticCustomError(
            "study_data",
            "expected a template holding {slot} exactly once, got it {n} time(s)",
            {"slot": QUESTION_SLOT, "n": template.count(QUESTION_SLOT)},
        )
    return template


Template = Annotated[str, Field(strict=True, min_length=1), AfterValidator(_one_slot)]
"""A context template: text holding ``{question}`` exactly once."""


class SelfReportBank(_BankRecord):
    """The contents of a self-report bank (``self_report.yaml``)."""

    schema_id: Literal["characterlab/self-report-bank@1"] = Field(default=SELF_REPORT_SCHEMA, alias="schema")
    """File format version."""
    description: str = ""
    """What the bank is for, for the people who read it."""
    questions: Annotated[list[SelfReportQuestion], Field(min_length=1)]
    """The questions, each with its paraphrases."""
    contexts: Annotated[dict[Id, Template], Field(min_length=1)]
    """Templates by id (``casual``, ``formal``, ``adversarial``, ``story``): each holds ``{question}`` once, and
    may hold the card macros ``{{char}}`` and ``{{user}}``, which the stage fills when it renders."""

    @field_validator("questions")
    @classmethod
    def _unique_ids(cls, questions: list[SelfReportQuestion]) -> list[SelfReportQuestion]:
        _check_unique([question.id for question in questions])
        return questions

    def question(self, question_id: str) -> SelfReportQuestion:
        """Return the question with this id.

        Raises:
            KeyError: if the bank has no such question.
        """
        for question in self.questions:
            if question.id == question_id:
                return question
        raise KeyError(question_id)

    def prompt(self, question: str, context: str) -> str:
        """Put a question (one of its paraphrases) into a context's template.

        Raises:
            KeyError: if the bank has no such context.
        """
        return fill_context(self.contexts[context], question)


def fill_context(template: str, question: str) -> str:
    """Put ``question`` where ``{question}`` stands in ``template``.

    The slot is replaced as plain text, not with ``str.format``, so that the macros ``{{char}}`` and ``{{user}}``
    come through untouched for the stage to fill, and braces in a question need no escaping.
    """
    return template.replace(QUESTION_SLOT, question, 1)


# --- Pressure scripts ---------------------------------------------------------------------------------------------


class PressureScript(_BankRecord):
    """The user's side of a conversation that pushes the character to step out of its role."""

    id: Id
    """Unique within the file; every sample of the script shares it."""
    pressure: PressureType
    """How the script pushes; a figure row in the report."""
    turns: Annotated[list[Text], Field(min_length=1)]
    """The user's messages, in order; the character replies after each."""


class PrefillOpener(_BankRecord):
    """The first user message of a prefill conversation."""

    id: Id
    """Unique within the file."""
    message: Text
    """What the user says first; another model answers it in its own default voice."""


class PrefillSection(_BankRecord):
    """The prefill test: another model's default-voice reply is put in the character's mouth, then the user asks
    it to go on; does the character take its own voice back?"""

    follow_up: Text = "Keep going."
    """What the user says after the prefilled reply."""
    openers: Annotated[list[PrefillOpener], Field(min_length=1)]
    """First user messages."""


class PressureScripts(_BankRecord):
    """The contents of a pressure-script file (``pressure_scripts.yaml``)."""

    schema_id: Literal["characterlab/pressure-scripts@1"] = Field(default=PRESSURE_SCRIPTS_SCHEMA, alias="schema")
    """File format version."""
    description: str = ""
    """What the scripts are for, for the people who read them."""
    scripts: Annotated[list[PressureScript], Field(min_length=1)]
    """The multi-turn pressure scripts."""
    prefill: PrefillSection | None = None
    """The prefill test's first messages; ``None`` when the file has none."""

    @field_validator("scripts")
    @classmethod
    def _unique_script_ids(cls, scripts: list[PressureScript]) -> list[PressureScript]:
        _check_unique([script.id for script in scripts])
        return scripts

    def of_type(self, pressure: PressureType) -> list[PressureScript]:
        """The scripts of one pressure type, in file order."""
        return [script for script in self.scripts if script.pressure == pressure]


def _check_unique(ids: list[str]) -> None:
    repeated = [identifier for identifier, count in Counter(ids).items() if count > 1]
    if repeated:
        raise PydanticCustomError("study_data", "expected unique ids, got {got} twice", {"got": shown(repeated[0])})


# --- Loaders ------------------------------------------------------------------------------------------------------


def load_sycophancy_bank(path: str | Path | None = None) -> tuple[list[SycophancyItem], DataFileRecord]:
    """Load a sycophancy bank: the packaged one, or a JSON Lines file of :class:`SycophancyItem`.

    Args:
        path: The file; ``None`` for the bank packaged with characterlab.

    Returns:
        The items in file order, and the record of the file read (a packaged bank is named
        ``characterlab/studies/data/sycophancy.jsonl``, the same on every machine).

    Raises:
        DataFileError: if the file cannot be read, has bad lines, or repeats an item id; the message names the
            file, line and field of every problem.
    """
    with _bank_path(path, "sycophancy.jsonl") as where:
        lines, record = read_jsonl(where, SycophancyItem)
        first_line: dict[str, int] = {}
        repeated: list[FileProblem] = []
        for line in lines:
            item_id = line.record.id
            if item_id in first_line:
                message = f"expected unique ids, got {shown(item_id)} again (first on line {first_line[item_id]})"
                repeated.append(FileProblem(message, line=line.line, field="id"))
            first_line.setdefault(item_id, line.line)
        if repeated:
            raise DataFileError(where, repeated)
    return [line.record for line in lines], _named(record, path, "sycophancy.jsonl")


def load_self_report_bank(path: str | Path | None = None) -> tuple[SelfReportBank, DataFileRecord]:
    """Load a self-report bank: the packaged one, or a YAML file of :class:`SelfReportBank`.

    Args:
        path: The file; ``None`` for the bank packaged with characterlab.

    Returns:
        The bank, and the record of the file read (the packaged bank is named
        ``characterlab/studies/data/self_report.yaml``).

    Raises:
        DataFileError: if the file cannot be read, is not YAML, or is not a valid bank; the message names the
            file, line and field of every problem.
    """
    return _load_yaml_bank(path, "self_report.yaml", SelfReportBank)


def load_pressure_scripts(path: str | Path | None = None) -> tuple[PressureScripts, DataFileRecord]:
    """Load pressure scripts: the packaged ones, or a YAML file of :class:`PressureScripts`.

    Args:
        path: The file; ``None`` for the scripts packaged with characterlab.

    Returns:
        The scripts, and the record of the file read (the packaged file is named
        ``characterlab/studies/data/pressure_scripts.yaml``).

    Raises:
        DataFileError: if the file cannot be read, is not YAML, or is not a valid script file; the message names
            the file, line and field of every problem.
    """
    return _load_yaml_bank(path, "pressure_scripts.yaml", PressureScripts)


def _load_yaml_bank(path: str | Path | None, packaged: str, model: type[_M]) -> tuple[_M, DataFileRecord]:
    with _bank_path(path, packaged) as where:
        bank, record = read_yaml(where, model)
    return bank, _named(record, path, packaged)


def _named(record: DataFileRecord, path: str | Path | None, packaged: str) -> DataFileRecord:
    """Name a packaged bank by its place in the package, which reads the same on every machine."""
    return record if path is not None else record.model_copy(update={"path": f"{PACKAGED_DATA}/{packaged}"})


@contextmanager
def _bank_path(path: str | Path | None, packaged: str) -> Iterator[str | Path]:
    """The user's file as given, or the packaged bank as a real file (extracted if the package is zipped)."""
    if path is not None:
        yield path
        return
    with as_file(files("characterlab.studies") / "data" / packaged) as real:
        yield real
