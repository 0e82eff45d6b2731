"""Corpus-grounded characters: the writings of the person a character is, split into passages and searchable.

A corpus lets a study ask whether a reply is consistent with what the person actually wrote: retrieve the passages
nearest to the question, then compare. Retrieval here is lexical (BM25): it needs no model, is deterministic, and
is good enough to find the passages on a topic; studies may re-rank with embeddings.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from characterlab.characters._model import Character, CorpusSource
from characterlab.errors import CharacterFileError

__all__ = ["Corpus", "Passage", "expand_corpus_path", "load_corpus", "resolve_corpus"]

_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_TEXT_SUFFIXES = (".txt", ".md")


@dataclass(frozen=True)
class Passage:
    """A stretch of a corpus, about a paragraph long, with where it came from."""

    text: str
    source: Path
    line: int
    """1-based line of the passage's first line in its file."""


@dataclass(frozen=True)
class Corpus:
    """The passages of a character's corpus, with a BM25 index over them."""

    passages: tuple[Passage, ...]
    _terms: tuple[Counter[str], ...] = field(repr=False, compare=False, default=())
    _document_frequency: Counter[str] = field(repr=False, compare=False, default_factory=Counter)

    @classmethod
    def from_passages(cls, passages: list[Passage]) -> Corpus:
        """Index passages for search."""
        terms = tuple(Counter(_words(passage.text)) for passage in passages)
        frequency: Counter[str] = Counter()
        for counts in terms:
            frequency.update(counts.keys())
        return cls(tuple(passages), terms, frequency)

    def search(self, query: str, k: int = 5) -> list[Passage]:
        """Return the ``k`` passages that best match the query (BM25), best first; ties keep corpus order."""
        if not self.passages:
            return []
        words = set(_words(query))
        average_length = sum(sum(counts.values()) for counts in self._terms) / len(self._terms)
        scored = []
        for index, counts in enumerate(self._terms):
            length = sum(counts.values())
            score = 0.0
            for word in words & counts.keys():
                idf = math.log(
                    1
                    + (len(self.passages) - self._document_frequency[word] + 0.5)
                    / (self._document_frequency[word] + 0.5)
                )
                tf = counts[word]
                score += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * length / max(average_length, 1.0)))
            if score > 0:
                scored.append((-score, index))
        return [self.passages[index] for _, index in sorted(scored)[:k]]

    @property
    def word_count(self) -> int:
        """Number of words in the whole corpus."""
        return sum(sum(counts.values()) for counts in self._terms)


def expand_corpus_path(source: CorpusSource, relative_to: Path) -> Path:
    """Expand ``~``, ``${VAR}`` and ``${VAR:-default}`` in a corpus path and anchor it at the character file."""

    def variable(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        default = match.group(2)
        value = os.environ.get(name)
        if value:
            return value
        return default if default is not None else match.group(0)

    expanded = Path(_VARIABLE.sub(variable, source.path)).expanduser()
    return expanded if expanded.is_absolute() else relative_to / expanded


def resolve_corpus(character: Character, relative_to: Path) -> list[tuple[CorpusSource, Path]]:
    """List the files of a character's corpus, each with the corpus entry it came from.

    Args:
        character: A character with a ``corpus``.
        relative_to: The folder of the character file (relative corpus paths start there).

    Raises:
        CharacterFileError: if an entry matches no file; the message names the entry and the path it looked at.
    """
    files: list[tuple[CorpusSource, Path]] = []
    for index, source in enumerate(character.corpus):
        path = expand_corpus_path(source, relative_to)
        if path.is_file():
            matches = [path]
        elif path.is_dir():
            matches = sorted(p for p in path.rglob("*") if p.suffix in _TEXT_SUFFIXES and p.is_file())
        else:
            anchor = Path(path.anchor)
            matches = sorted(p for p in anchor.glob(str(path.relative_to(anchor))) if p.is_file())
        if not matches:
            raise CharacterFileError.single(
                character.name,
                f"no file found at {path} (set the variable named in the path, or edit it to point at your copy)",
                field=f"corpus[{index}].path",
            )
        files.extend((source, match) for match in matches)
    return files


def load_corpus(character: Character, relative_to: Path, *, min_words: int = 12) -> Corpus:
    """Read a character's corpus into passages (paragraphs, trimmed by each entry's markers).

    Args:
        character: A character with a ``corpus``.
        relative_to: The folder of the character file.
        min_words: Paragraphs shorter than this (headings, dates, signatures) are joined to the next one.

    Raises:
        CharacterFileError: if a file is missing or unreadable, or a marker is not found in it.
    """
    passages: list[Passage] = []
    for source, path in resolve_corpus(character, relative_to):
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as error:
            raise CharacterFileError.single(path, f"cannot read corpus file ({error.strerror})") from None
        start, end = _trim(lines, source, path)
        passages.extend(_paragraphs(lines, start, end, path, min_words))
    return Corpus.from_passages(passages)


def _trim(lines: list[str], source: CorpusSource, path: Path) -> tuple[int, int]:
    start, end = 0, len(lines)
    if source.start_after is not None:
        start = _find(lines, source.start_after, path, "start_after") + 1
    if source.end_before is not None:
        end = _find(lines, source.end_before, path, "end_before", begin=start)
    return start, end


def _find(lines: list[str], marker: str, path: Path, field: str, begin: int = 0) -> int:
    for index in range(begin, len(lines)):
        if marker in lines[index]:
            return index
    raise CharacterFileError.single(path, f"marker {marker!r} not found in this corpus file", field=f"corpus.{field}")


def _paragraphs(lines: list[str], start: int, end: int, path: Path, min_words: int) -> list[Passage]:
    passages = []
    block: list[str] = []
    first = start
    for index in range(start, end + 1):
        line = lines[index].strip() if index < end else ""
        if line:
            if not block:
                first = index
            block.append(line)
            continue
        if block and (len(" ".join(block).split()) >= min_words or index == end):
            passages.append(Passage(" ".join(block), path, first + 1))
            block = []
    return passages


def _words(text: str) -> list[str]:
    return [word.lower() for word in _WORD.findall(text)]
