"""The errors characterlab raises for a user's mistakes.

Every error here carries a message written for the person who made the mistake: which file, which line,
which field, and what was expected. The CLI prints them without a traceback. Anything that is not a
``CharacterlabError`` is a bug in characterlab, not in the user's input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Self

__all__ = [
    "CapabilityError",
    "CardError",
    "CharacterFileError",
    "CharacterlabError",
    "DataFileError",
    "FileProblem",
    "ModelLoadError",
]


class CharacterlabError(Exception):
    """Base class of every error caused by input that characterlab cannot accept."""


@dataclass(frozen=True)
class FileProblem:
    """One thing wrong with a file, located as precisely as the format allows.

    Attributes:
        message: What is wrong and what was expected, e.g. ``expected a number in [0, 1], got "high"``.
        line: 1-based line in the file, when the format has lines and the problem has a place.
        field: Dotted path of the offending field, e.g. ``traits[2].strength``.
    """

    message: str
    line: int | None = None
    field: str | None = None

    def format(self, source: str) -> str:
        """Render as ``source:line: field: message``, leaving out the parts that are unknown."""
        where = source if self.line is None else f"{source}:{self.line}"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class _FileError(CharacterlabError):
    """An input file with one or more problems; ``str()`` gives one line per problem."""

    def __init__(self, source: str | Path, problems: Sequence[FileProblem]) -> None:
        if not problems:
            raise ValueError("a file error needs at least one problem")
        self.source = str(source)
        self.problems = tuple(problems)
        super().__init__("\n".join(problem.format(self.source) for problem in self.problems))

    @classmethod
    def single(cls, source: str | Path, message: str, *, line: int | None = None, field: str | None = None) -> Self:
        """Build an error with exactly one problem."""
        return cls(source, [FileProblem(message, line=line, field=field)])


class CharacterFileError(_FileError):
    """A ``*.character.yaml`` file that is unreadable, not YAML, or not a valid character."""


class CardError(_FileError):
    """A character card (JSON, PNG or CHARX) that cannot be read or does not follow the card specs."""


MAX_LISTED_PROBLEMS: Final = 20
"""How many problems a :class:`DataFileError` message lists before it says how many more there are."""


class DataFileError(_FileError):
    """A study data file that cannot be read or holds lines that are not valid records.

    ``problems`` holds every problem found; the message lists the first :data:`MAX_LISTED_PROBLEMS` and says how
    many more there are, so that a file with ten thousand bad lines still gives a readable message.
    """

    def __init__(self, source: str | Path, problems: Sequence[FileProblem]) -> None:
        super().__init__(source, problems)
        if len(self.problems) > MAX_LISTED_PROBLEMS:
            listed = [problem.format(self.source) for problem in self.problems[:MAX_LISTED_PROBLEMS]]
            more = len(self.problems) - MAX_LISTED_PROBLEMS
            lines = len({problem.line for problem in self.problems[MAX_LISTED_PROBLEMS:]})
            listed.append(f"{self.source}: and {more} more problem(s) on {lines} more line(s)")
            self.args = ("\n".join(listed),)


class CapabilityError(CharacterlabError):
    """A model asked for something its provider cannot do (option log-probabilities, activations, steering, …).

    Raised before the first call where the capability table already tells, otherwise as soon as a reply shows it
    (e.g. a provider that returned no log-probabilities). The message names what is missing and what would work.
    """


class ModelLoadError(CharacterlabError):
    """A model, tokenizer or adapter that cannot be loaded: a missing folder, an unreachable hub, a missing package."""
