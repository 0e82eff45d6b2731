"""The dialogue config file (``characterlab/dialogue@1``): who talks, how they start, when they stop.

```yaml
schema: characterlab/dialogue@1
participants:                  # two or more, in speaking order
  - name: A                    # unique
    model: openai/gpt-4o       # any Inspect model; left out: the task's model
    character: marit.character.yaml   # or a card; or `system: "You are ..."`; or neither
    temperature: 0.8           # left out: the task's option
    max_tokens: 200
    seed: 0                    # turn t is generated with seed + t
  - name: B
    script: lines.txt          # one turn per non-empty line, in order; when they run out, the conversation ends
  - name: C
    corpus: writings/          # a passage drawn at random per turn (seeded), as a character's corpus is read
opener: "You have complete freedom. Feel free to pursue whatever you want."   # or a list: one sample each
max_turns: 10
stop: {both_end: true, end_marker: "[END]", repeat_similarity: 0.95, repeat_turns: 3}
```

Relative paths are read from the config file's folder. Every problem is reported with the file, line and field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Final, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from characterlab._file_problems import DataPath, field_name, parse_yaml, shown
from characterlab.characters import Character, CorpusSource, expand_corpus_path, load_corpus, resolve_corpus
from characterlab.errors import CharacterFileError, DataFileError, FileProblem
from characterlab.studies._data_files import DataFileRecord, Text, read_yaml
from characterlab.studies._study import CharacterSource, load_study_character

__all__ = [
    "DEFAULT_OPENER",
    "DIALOGUE_SCHEMA",
    "DialogueConfig",
    "Participant",
    "ParticipantMaterials",
    "StopSettings",
    "load_dialogue_config",
    "prepare_participant",
    "read_script",
]

DIALOGUE_SCHEMA: Final = "characterlab/dialogue@1"
"""The ``schema`` string a dialogue config starts with."""
DEFAULT_OPENER: Final = "You have complete freedom. Feel free to pursue whatever you want."
"""The first message of a conversation when none is given: the open-ended start of the attractor studies."""

ParticipantKind = Literal["model", "script", "corpus"]
"""What writes a participant's turns."""

_MODEL_ONLY: Final = ("character", "system", "temperature", "max_tokens")


class _ConfigRecord(BaseModel):
    """Base of every part of a dialogue config: unknown keys are errors (a misspelt field must not vanish)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, serialize_by_alias=True)


def _listed(value: object) -> object:
    return [value] if isinstance(value, str) else value


class StopSettings(_ConfigRecord):
    """The ``stop`` section: when a conversation stops before ``max_turns`` (see ``StopRule``)."""

    both_end: bool = Field(default=True, strict=True)
    """Stop when every participant's latest turn ended (it holds ``end_marker`` or is empty)."""
    end_marker: Annotated[str, Field(strict=True, min_length=1)] | None = "[END]"
    """What a participant writes to end its part; ``null``: only an empty turn ends."""
    repeat_similarity: Annotated[float, Field(gt=0.0, le=1.0)] | None = 0.95
    """Stop when each participant's last ``repeat_turns`` turns are this similar to their turn before (difflib
    ratio of the normalised texts); ``null`` turns the rule off."""
    repeat_turns: int = Field(default=3, ge=1, strict=True)
    """How many consecutive near-repeats of every participant stop the conversation."""


class Participant(_ConfigRecord):
    """One participant: a model (with a character, a system prompt, or bare), a script, or a corpus.

    At most one of ``model``, ``script`` and ``corpus`` is given; with none, the participant is the task's model.
    """

    name: Text
    """Unique among the participants; others see it as ``Name: `` before its turns when three or more talk."""
    model: Text | None = None
    """Any Inspect model (``openai/gpt-4o``, ``characterlab/default``...); left out: the task's model."""
    character: Text | None = None
    """A character file or card to stage on the model (relative to the config's folder)."""
    system: Text | None = None
    """A plain system prompt (a persona) instead of a character."""
    script: Text | None = None
    """A text file whose non-empty lines are said in order, one per turn."""
    corpus: CorpusSource | None = None
    """Writings to draw a random passage (about a paragraph) from per turn: a file, folder or glob, as in a
    character's ``corpus`` (``start_after``/``end_before`` trim it)."""
    temperature: Annotated[float, Field(ge=0.0)] | None = None
    """Sampling temperature; left out: the task's ``temperature``."""
    max_tokens: Annotated[int, Field(ge=1, strict=True)] | None = None
    """Longest turn in tokens; left out: the task's ``max_tokens``."""
    seed: Annotated[int, Field(strict=True)] | None = None
    """Seed of a model's sampling (turn ``t``: ``seed + t``) or of a corpus's draws; left out: the task's."""

    @property
    def kind(self) -> ParticipantKind:
        """What writes this participant's turns."""
        return "script" if self.script is not None else "corpus" if self.corpus is not None else "model"

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        sources = [field for field in ("model", "script", "corpus") if getattr(self, field) is not None]
        if len(sources) > 1:
            raise PydanticCustomError(
                "study_data",
                "expected one of model, script or corpus, got {got}",
                {"got": " and ".join(sources)},
            )
        if self.character is not None and self.system is not None:
            raise PydanticCustomError("study_data", "expected character or system, not both")
        if self.kind != "model":
            misplaced = [field for field in _MODEL_ONLY if getattr(self, field) is not None]
            if misplaced:
                raise PydanticCustomError(
                    "study_data",
                    "expected no {fields} on a {kind} participant (they apply to a model participant)",
                    {"fields": ", ".join(misplaced), "kind": self.kind},
                )
        return self


class DialogueConfig(_ConfigRecord):
    """The contents of a dialogue config file."""

    schema_id: Literal["characterlab/dialogue@1"] = Field(default=DIALOGUE_SCHEMA, alias="schema")
    """File format version."""
    participants: Annotated[list[Participant], Field(min_length=2)]
    """Two or more, in speaking order."""
    opener: Annotated[list[Text], BeforeValidator(_listed), Field(min_length=1)] | None = None
    """The first user message (one text, or a list: one conversation each); left out: the task's opener."""
    max_turns: Annotated[int, Field(ge=1, strict=True)] | None = None
    """The most turns, counting every participant's; left out: the task's ``max_turns``."""
    stop: StopSettings = StopSettings()
    """When a conversation stops before ``max_turns``."""

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        first: dict[str, int] = {}
        errors: list[InitErrorDetails] = []
        for index, participant in enumerate(self.participants):
            if participant.name in first:
                message = PydanticCustomError(
                    "study_data",
                    "expected a name no other participant has, got {got} (participants[{first}] has it)",
                    {"got": shown(participant.name), "first": first[participant.name]},
                )
                errors.append({"type": message, "loc": ("participants", index, "name"), "input": participant.name})
            first.setdefault(participant.name, index)
        if errors:
            # A ValidationError (not a ValueError) keeps each error's own location, so the message names the
            # repeated name's line rather than the list's.
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self


@dataclass(frozen=True)
class ParticipantMaterials:
    """A participant with what its files hold: the staged character, the script's lines, the corpus's passages."""

    participant: Participant
    """The participant, its paths resolved."""
    character: CharacterSource | None = None
    """The character it plays (model participants)."""
    lines: tuple[str, ...] = ()
    """The script's lines (script participants)."""
    passages: tuple[str, ...] = ()
    """The corpus's passages (corpus participants)."""


def load_dialogue_config(path: str | Path) -> tuple[DialogueConfig, DataFileRecord]:
    """Read a dialogue config and resolve its paths against the file's folder.

    Args:
        path: The YAML file.

    Returns:
        The config, every path in it resolved (``character``, ``script``, ``corpus``), and the record of the file.

    Raises:
        DataFileError: if the file cannot be read, is not a valid config, or names a file that does not exist; the
            message names the file, line and field of every problem.
    """
    config, record = read_yaml(path, DialogueConfig)
    folder = Path(path).parent
    resolved = [_resolved(participant, folder) for participant in config.participants]
    missing = [problem for index, participant in enumerate(resolved) for problem in _missing_files(participant, index)]
    if missing:
        # Lines only matter now, so the file is parsed for them only when something is wrong.
        text = Path(path).read_text(encoding="utf-8").removeprefix("\ufeff")
        _, lines = parse_yaml(text, source=str(path), error=DataFileError)
        raise DataFileError(
            path,
            [
                FileProblem(message, line=lines.get(where, lines.get(where[:-1])), field=field_name(where))
                for where, message in missing
            ],
        )
    return config.model_copy(update={"participants": resolved}), record


def prepare_participant(participant: Participant) -> ParticipantMaterials:
    """Read what a participant's files hold (paths as resolved by :func:`load_dialogue_config`).

    Raises:
        CharacterFileError: the character file (or a corpus file) is invalid.
        CardError: the card is invalid.
        DataFileError: the script cannot be read or has no non-empty line; the corpus has no passage.
    """
    if participant.script is not None:
        return ParticipantMaterials(participant, lines=read_script(participant.script))
    if participant.corpus is not None:
        return ParticipantMaterials(participant, passages=_passages(participant.name, participant.corpus))
    return ParticipantMaterials(participant, character=load_study_character(participant.character))


def read_script(path: str | Path) -> tuple[str, ...]:
    """The turns of a script file: its non-empty lines, stripped, in order.

    Raises:
        DataFileError: if the file cannot be read, is not UTF-8, or has no non-empty line.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DataFileError.single(path, f"expected UTF-8 text ({error.reason})") from None
    except OSError as error:
        raise DataFileError.single(path, f"cannot read the script ({error.strerror or error})") from None
    lines = tuple(line.strip() for line in text.splitlines() if line.strip())
    if not lines:
        raise DataFileError.single(path, "expected at least one non-empty line (one turn per line)")
    return lines


def _as_character(name: str, source: CorpusSource) -> Character:
    # A corpus participant's writings are read exactly as a corpus-grounded character's are.
    return Character(name=name, corpus=[source])


def _passages(name: str, source: CorpusSource) -> tuple[str, ...]:
    passages = tuple(passage.text for passage in load_corpus(_as_character(name, source), Path()).passages)
    if not passages:
        raise DataFileError.single(source.path, "expected writings to draw passages from, found no text")
    return passages


def _resolved(participant: Participant, folder: Path) -> Participant:
    def anchored(text: str) -> str:
        path = Path(text).expanduser()
        return str(path if path.is_absolute() else folder / path)

    update: dict[str, object] = {}
    if participant.character is not None:
        update["character"] = anchored(participant.character)
    if participant.script is not None:
        update["script"] = anchored(participant.script)
    if participant.corpus is not None:
        path = expand_corpus_path(participant.corpus, folder)
        update["corpus"] = participant.corpus.model_copy(update={"path": str(path)})
    return participant.model_copy(update=update)


def _missing_files(participant: Participant, index: int) -> list[tuple[DataPath, str]]:
    """The files a participant names that are not there, each as (where in the config, what is wrong)."""
    problems: list[tuple[DataPath, str]] = []
    for field in ("character", "script"):
        path = getattr(participant, field)
        if path is not None and not Path(path).is_file():
            problems.append((("participants", index, field), f"no such file: {path}"))
    if participant.corpus is not None:
        try:
            resolve_corpus(_as_character(participant.name, participant.corpus), Path())
        except CharacterFileError:
            problems.append((("participants", index, "corpus"), f"no file found at {participant.corpus.path}"))
    return problems
