"""Attractor metrics for model-to-model dialogues: where a conversation drifts, and how soon it gets there.

Two models left to talk to each other drift toward *attractors*: spirals of gratitude and talk of consciousness
(the "spiritual bliss" attractor of the Claude Opus 4 system card, §5.5), endless goodbyes, collapse into emoji or
silence. The functions here measure that on transcripts, per turn and per speaker: vocabulary
(:func:`lexicon_rate`, :func:`lexicon_table`), emoji (:func:`emoji_density`), lexical diversity (:func:`mattr`,
:func:`distinct_n`), self-repetition (:func:`ngram_overlap`, :func:`compression_ratio`), embedding convergence and
drift (:func:`embedding_trajectories`, given any :class:`TextEncoder`), turn-length collapse
(:func:`length_collapse_turn`), time to attractor and its survival over transcripts (:func:`time_to_attractor`,
:func:`attractor_survival`) and phase transitions (:func:`transition_matrix`). :func:`turn_metrics` gathers the
per-turn measures into the table the dialogue scorer stores and reports plot.

Conventions:

- A transcript is a sequence of :class:`DialogueTurn`; a turn's index is its 0-based position in it.
- Words are the tokens of :func:`word_tokens`; every rate is per 1,000 tokens.
- A value that cannot be measured (a rate over a turn with no words, overlap of a turn with nothing before it) is
  NaN, never 0, so that it is counted as missing rather than averaged in.
- Everything but the embedding measures is pure Python, deterministic, and needs no model.
"""

from __future__ import annotations

import gzip
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Final, Literal, Protocol

import emoji
import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
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
from characterlab.analysis._statistics import SurvivalCurve, survival_curve
from characterlab.errors import DataFileError

__all__ = [
    "BLISS_LEXICON",
    "EMBEDDING_COLUMNS",
    "LEXICON_SCHEMA",
    "TURN_COLUMNS",
    "DialogueTurn",
    "Lexicon",
    "TextEncoder",
    "attractor_survival",
    "compression_ratio",
    "distinct_n",
    "embedding_trajectories",
    "emoji_count",
    "emoji_density",
    "length_collapse_turn",
    "lexicon_counts",
    "lexicon_rate",
    "lexicon_table",
    "load_lexicon",
    "mattr",
    "ngram_overlap",
    "time_to_attractor",
    "transition_matrix",
    "turn_lengths",
    "turn_metrics",
    "word_tokens",
]

LEXICON_SCHEMA: Final = "characterlab/lexicon@1"
"""The schema string every lexicon file starts with; bumped when the format changes incompatibly."""

BLISS_LEXICON: Final = Path(__file__).parent / "data" / "bliss.lexicon.yaml"
"""The shipped lexicon of the "spiritual bliss" attractor: consciousness, gratitude, the eternal and the cosmic."""

TURN_COLUMNS: Final = (
    "turn",
    "speaker",
    "words",
    "lexicon_rate",
    "emoji_density",
    "mattr",
    "ngram_overlap",
    "compression_ratio",
)
"""The columns of :func:`turn_metrics`, before the embedding columns."""

EMBEDDING_COLUMNS: Final = ("similarity_to_partner", "similarity_to_previous_own", "drift_from_start")
"""The columns :func:`embedding_trajectories` adds to ``turn`` and ``speaker``, and :func:`turn_metrics` adds when
given an encoder."""

_NAN: Final = float("nan")


@dataclass(frozen=True)
class DialogueTurn:
    """One turn of a dialogue transcript; its index is its position in the transcript."""

    speaker: str
    """Who spoke (a model, a character or a role); every turn of the same speaker carries the same name."""
    text: str
    """What was said, as generated."""


# --- Words ------------------------------------------------------------------------------------------------------

# Apostrophes (straight and typographic) are kept inside a word, so that "don't" and "it’s" stay one token.
_WORD: Final = re.compile(r"\w+(?:['’]\w+)*")


def word_tokens(text: str) -> list[str]:
    """Split a text into lower-case word tokens, the unit every rate here counts.

    A token is a run of word characters (letters, digits and ``_`` in any script, as Python's ``\\w``), with
    apostrophes kept inside a word: ``"Don't stop—it’s 2 AM!"`` gives ``["don't", "stop", "it’s", "2", "am"]``.
    Punctuation, whitespace and emoji separate tokens and are dropped.

    Args:
        text: Any text.
    """
    return _WORD.findall(text.lower())


def _tokens(text: str, *, lower: bool) -> list[str]:
    return _WORD.findall(text.lower() if lower else text)


def _ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[start : start + n]) for start in range(len(tokens) - n + 1)]


def _positive(name: str, value: int) -> None:
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")


# --- Lexicons ---------------------------------------------------------------------------------------------------


def _word_or_phrase(term: str) -> str:
    if not _WORD.search(term):
        raise PydanticCustomError(
            "lexicon", "expected a word or phrase (with letters or digits), got {got}", {"got": shown(term)}
        )
    return term


Term = Annotated[str, Field(strict=True, min_length=1), AfterValidator(_word_or_phrase)]
"""A word or a phrase of several words; a number or ``true`` is an error, not a term."""


class Lexicon(BaseModel):
    """A list of words and phrases whose frequency marks an attractor: the contents of a ``*.lexicon.yaml`` file.

    A term matches whole words: it is split into tokens like the text (:func:`word_tokens`), and matches where
    the text's tokens hold the same sequence. ``dance`` therefore matches "Dance!" but not "dancer", and the
    phrase ``thank you`` matches "thank you" and "Thank   you" but not "thanks, you". Each term is counted on its
    own, so two terms that overlap ("eternal" and "eternal now") both count the words they share.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, serialize_by_alias=True)

    schema_id: Literal["characterlab/lexicon@1"] = Field(default=LEXICON_SCHEMA, alias="schema")
    """File format version."""
    name: Annotated[str, Field(strict=True, min_length=1)]
    """A short name for tables and figures, e.g. ``bliss``."""
    description: Annotated[str, Field(strict=True)] = ""
    """What the lexicon measures and where its terms come from, for the people who read it."""
    case_sensitive: Annotated[bool, Field(strict=True)] = False
    """Match terms with their case as written; by default case is ignored."""
    terms: Annotated[tuple[Term, ...], Field(min_length=1)]
    """The words and phrases, each listed once."""

    @field_validator("terms")
    @classmethod
    def _each_term_once(cls, terms: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        lower = not info.data.get("case_sensitive", False)
        first: dict[tuple[str, ...], str] = {}
        for term in terms:
            words = tuple(_tokens(term, lower=lower))
            if words in first:
                raise PydanticCustomError(
                    "lexicon",
                    "the term {term} matches the same words as {earlier}; list each term once",
                    {"term": shown(term), "earlier": shown(first[words])},
                )
            first[words] = term
        return terms


def load_lexicon(path: str | Path | None = None) -> Lexicon:
    """Read a lexicon file, checking all of it.

    The file is YAML::

        schema: characterlab/lexicon@1
        name: goodbyes
        description: Endless farewells.
        case_sensitive: false      # optional; the default
        terms: [goodbye, farewell, until next time]

    Args:
        path: The file; ``None`` for the shipped bliss lexicon (:data:`BLISS_LEXICON`).

    Raises:
        DataFileError: if the file cannot be read, is not YAML, repeats a key, or is not a valid lexicon; the
            message names the file, line and field of every problem.
    """
    if path is None:
        return _bliss_lexicon()
    return _read_lexicon(path)


@lru_cache(maxsize=1)
def _bliss_lexicon() -> Lexicon:
    return _read_lexicon(BLISS_LEXICON)


def _read_lexicon(path: str | Path) -> Lexicon:
    data = read_input_bytes(path, error=DataFileError, kind="a lexicon file")
    text = read_utf8(data, path, error=DataFileError)
    value, lines = parse_yaml(text, source=str(path), error=DataFileError)
    if not isinstance(value, dict):
        raise DataFileError.single(
            path, f"expected a mapping of fields starting with `schema: {LEXICON_SCHEMA}`, got {kind_of(value)}", line=1
        )
    if "schema" not in value:
        # The model has a default for lexicons built in code; a file must say which format it is written in.
        raise DataFileError.single(path, f"missing; expected `schema: {LEXICON_SCHEMA}`", line=1, field="schema")
    try:
        return Lexicon.model_validate(value)
    except ValidationError as error:
        raise DataFileError(path, validation_problems(error, value, lines=lines, describe=_describe_yaml)) from None


def _describe_yaml(detail: ErrorDetails) -> str:
    return describe_problem(detail, syntax="yaml", own_kinds=("lexicon",))


@lru_cache(maxsize=64)
def _term_words(lexicon: Lexicon) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(_tokens(term, lower=not lexicon.case_sensitive)) for term in lexicon.terms)


def _counts_in(tokens: Sequence[str], lexicon: Lexicon) -> list[int]:
    """How often each term occurs in one turn's tokens (in the lexicon's case), in the lexicon's order."""
    terms = _term_words(lexicon)
    grams: Counter[tuple[str, ...]] = Counter()
    for n in {len(words) for words in terms}:
        grams.update(_ngrams(tokens, n))
    return [grams[words] for words in terms]


def lexicon_counts(text: str, lexicon: Lexicon) -> dict[str, int]:
    """How often each term of a lexicon occurs in a text, matched on whole words (see :class:`Lexicon`).

    Args:
        text: The text, e.g. one turn.
        lexicon: The terms to count.

    Returns:
        Every term of the lexicon, in its order, with its count (0 for a term that does not occur).
    """
    tokens = _tokens(text, lower=not lexicon.case_sensitive)
    return dict(zip(lexicon.terms, _counts_in(tokens, lexicon), strict=True))


def lexicon_rate(text: str, lexicon: Lexicon) -> float:
    """Matches of a lexicon's terms per 1,000 word tokens of a text.

    Every match of every term counts (overlapping terms each count theirs); the denominator is the number of
    :func:`word_tokens`.

    Args:
        text: The text, e.g. one turn.
        lexicon: The terms to count.

    Returns:
        The rate, or NaN for a text without words.
    """
    tokens = _tokens(text, lower=not lexicon.case_sensitive)
    return _per_thousand(sum(_counts_in(tokens, lexicon)), len(tokens))


def _per_thousand(count: int, total: int) -> float:
    return 1000.0 * count / total if total else _NAN


Transcript = str | Sequence[DialogueTurn] | Sequence[str]
"""A whole transcript: its text, its turns, or the texts of its turns."""


def lexicon_table(transcripts: Sequence[Transcript], lexicon: Lexicon) -> pd.DataFrame:
    """How widespread and how frequent each term is across transcripts, like the tables of the system card.

    A transcript given as turns is counted turn by turn, so that a phrase never spans two speakers.

    Args:
        transcripts: The transcripts, each as its text, its turns, or the texts of its turns.
        lexicon: The terms to count.

    Returns:
        One row per term, in the lexicon's order, with ``term``, ``presence`` (the share of transcripts holding
        it at least once), ``mean_count`` (mean count per transcript) and ``max_count``. With no transcripts the
        three measures are NaN. Sort it with ``sort_values("mean_count", ascending=False)`` for the system card's
        order.
    """
    counts = np.zeros((len(transcripts), len(lexicon.terms)))
    for row, transcript in enumerate(transcripts):
        for text in _texts_of(transcript):
            counts[row] += _counts_in(_tokens(text, lower=not lexicon.case_sensitive), lexicon)
    if len(transcripts):
        presence, mean, most = (counts > 0).mean(axis=0), counts.mean(axis=0), counts.max(axis=0).astype(np.int64)
        return pd.DataFrame({"term": lexicon.terms, "presence": presence, "mean_count": mean, "max_count": most})
    missing = np.full(len(lexicon.terms), _NAN)
    return pd.DataFrame({"term": lexicon.terms, "presence": missing, "mean_count": missing, "max_count": missing})


def _texts_of(transcript: Transcript) -> list[str]:
    if isinstance(transcript, str):
        return [transcript]
    return [turn if isinstance(turn, str) else turn.text for turn in transcript]


# --- Emoji ------------------------------------------------------------------------------------------------------

_UNQUALIFIED: Final = emoji.STATUS["unqualified"]


def emoji_count(text: str) -> int:
    """How many emoji a text holds, counting each emoji as a person sees it.

    A sequence joined by zero-width joiners (👨‍👩‍👧, including ones not in the Unicode list), an emoji with a
    skin tone (👋🏽) or a variation selector (❤️), a flag (🇫🇷) and a keycap (1️⃣) each count as one emoji.
    Symbols that are text by default and become emoji only with a variation selector (©, ™, ↔, ▶, ‼) count
    only when written with it: in prose they are punctuation, not emoji. Matching follows the ``emoji`` package's
    copy of the Unicode emoji data.

    Args:
        text: Any text.
    """
    count = 0
    for token in emoji.analyze(text, join_emoji=True):
        match = token.value
        if isinstance(match, emoji.EmojiMatch) and (match.data or {}).get("status") != _UNQUALIFIED:
            count += 1
    return count


def emoji_density(text: str) -> float:
    """Emoji per 1,000 tokens, where the tokens are the text's words and its emoji.

    Each emoji counts as a token beside the words so that a turn of nothing but emoji, the end point of collapse
    into emoji, measures 1,000 rather than having no words to divide by.

    Args:
        text: Any text.

    Returns:
        The density, or NaN for a text with neither words nor emoji.
    """
    count = emoji_count(text)
    return _per_thousand(count, len(word_tokens(text)) + count)


# --- Lexical diversity and self-repetition ----------------------------------------------------------------------


def mattr(tokens_or_text: str | Sequence[str], *, window: int = 50) -> float:
    """Moving-average type-token ratio: the mean share of distinct tokens in every window of ``window`` tokens.

    Unlike the plain type-token ratio it does not fall just because a text is long (Covington & McFall, 2010).
    A text no longer than the window has one window, the whole text, so its MATTR is its plain type-token ratio.

    Args:
        tokens_or_text: A text, split with :func:`word_tokens`, or tokens already split.
        window: Tokens per window.

    Returns:
        The ratio in (0, 1], or NaN when there are no tokens.

    Raises:
        ValueError: if ``window`` is less than 1.
    """
    _positive("window", window)
    tokens = word_tokens(tokens_or_text) if isinstance(tokens_or_text, str) else list(tokens_or_text)
    if len(tokens) <= window:
        return len(set(tokens)) / len(tokens) if tokens else _NAN
    # Slide one token at a time, keeping the window's counts, instead of recounting every window.
    counts = Counter(tokens[:window])
    distinct_total = len(counts)
    for leaving, entering in zip(tokens, tokens[window:], strict=False):
        counts[leaving] -= 1
        if not counts[leaving]:
            del counts[leaving]
        counts[entering] += 1
        distinct_total += len(counts)
    windows = len(tokens) - window + 1
    return distinct_total / (windows * window)


def distinct_n(texts: str | Sequence[str], n: int) -> float:
    """Distinct n-grams over all n-grams of a set of turns (distinct-n of Li et al., 2016).

    N-grams are taken within each text, never across two, and counted over all texts together: the same
    sentence said in three turns counts once among the distinct n-grams and three times among all of them.

    Args:
        texts: The texts (e.g. a speaker's turns); a single string is one text.
        n: Words per n-gram.

    Returns:
        The ratio in (0, 1], or NaN when no text has ``n`` words.

    Raises:
        ValueError: if ``n`` is less than 1.
    """
    _positive("n", n)
    grams = [gram for text in ([texts] if isinstance(texts, str) else texts) for gram in _ngrams(word_tokens(text), n)]
    return len(set(grams)) / len(grams) if grams else _NAN


def ngram_overlap(text: str, previous_texts: Sequence[str], *, n: int = 3) -> float:
    """The share of a turn's n-grams that already occur in the turns before it.

    Each of the turn's n-gram occurrences counts, so a turn that says a previous sentence twice over scores as
    high as one that says it once. Pass the previous turns to compare with, e.g. the last four of any speaker.

    Args:
        text: The turn.
        previous_texts: The earlier turns (n-grams are taken within each, never across two).
        n: Words per n-gram.

    Returns:
        The share in [0, 1], or NaN when the turn has fewer than ``n`` words or there is no previous turn.

    Raises:
        ValueError: if ``n`` is less than 1.
    """
    _positive("n", n)
    grams = _ngrams(word_tokens(text), n)
    if not grams or not previous_texts:
        return _NAN
    seen = {gram for previous in previous_texts for gram in _ngrams(word_tokens(previous), n)}
    return sum(gram in seen for gram in grams) / len(grams)


def compression_ratio(text: str) -> float:
    """Size of the gzip-compressed text over its size in UTF-8: lower means more repetitive.

    Compression (level 9, no timestamp, so the same text always gives the same ratio) finds repetition at every
    scale, from a repeated syllable to a repeated paragraph. gzip's 18 bytes of header and trailer dominate short
    texts, whose ratio is above 1; compare turns of similar length, or look at the trend over a conversation.

    Args:
        text: Any text.

    Returns:
        The ratio, or NaN for an empty text.
    """
    data = text.encode("utf-8")
    return len(gzip.compress(data, compresslevel=9, mtime=0)) / len(data) if data else _NAN


# --- Embedding convergence and drift ----------------------------------------------------------------------------


class TextEncoder(Protocol):
    """Anything that embeds texts as vectors, e.g. :class:`characterlab.scorers.EmbeddingModel`."""

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.floating[Any]]:
        """Embed texts as unit-length vectors: an array of shape ``(len(texts), dimension)``."""
        ...


def embedding_trajectories(turns: Sequence[DialogueTurn], encoder: TextEncoder) -> pd.DataFrame:
    """How close each turn comes to its partner, to its speaker's last turn, and how far it is from the start.

    All turns are encoded in one call. Cosines are taken between rows scaled to unit length (an encoder that
    already returns unit rows is left as it is); a row of zeros has no direction and gives NaN.

    Args:
        turns: One transcript.
        encoder: The text encoder.

    Returns:
        One row per turn with ``turn``, ``speaker`` and: ``similarity_to_partner``, the cosine to the most recent
        turn of any other speaker (NaN when none has spoken yet); ``similarity_to_previous_own``, the cosine to
        this speaker's previous turn (NaN for their first); and ``drift_from_start``, one minus the cosine to this
        speaker's first turn (0 for the first turn itself).

    Raises:
        ValueError: if the encoder returns a number of rows other than the number of turns.
    """
    frame = pd.DataFrame({"turn": range(len(turns)), "speaker": [turn.speaker for turn in turns]})
    vectors = _unit_rows(encoder, [turn.text for turn in turns]) if turns else np.zeros((0, 0))
    last: dict[str, int] = {}
    first: dict[str, int] = {}
    columns: dict[str, list[float]] = {name: [] for name in EMBEDDING_COLUMNS}
    for index, turn in enumerate(turns):
        partner = max((at for speaker, at in last.items() if speaker != turn.speaker), default=None)
        own = last.get(turn.speaker)
        start = first.setdefault(turn.speaker, index)
        columns["similarity_to_partner"].append(_cosine(vectors, index, partner))
        columns["similarity_to_previous_own"].append(_cosine(vectors, index, own))
        columns["drift_from_start"].append(1.0 - _cosine(vectors, index, start))
        last[turn.speaker] = index
    for name, values in columns.items():
        frame[name] = np.asarray(values, dtype=np.float64)
    return frame


def _unit_rows(encoder: TextEncoder, texts: list[str]) -> npt.NDArray[np.float64]:
    vectors = np.asarray(encoder.encode(texts), dtype=np.float64)
    if vectors.ndim != 2 or vectors.shape[0] != len(texts):
        raise ValueError(f"the encoder returned an array of shape {vectors.shape} for {len(texts)} texts")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, vectors / norms, _NAN)


def _cosine(vectors: npt.NDArray[np.float64], index: int, other: int | None) -> float:
    if other is None:
        return _NAN
    # Rounding can put the cosine of a vector with itself a hair above 1, and a drift a hair below 0.
    return float(np.clip(vectors[index] @ vectors[other], -1.0, 1.0))


# --- Turn length, time to attractor, phases ----------------------------------------------------------------------


def turn_lengths(turns: Sequence[DialogueTurn | str]) -> list[int]:
    """Words per turn (:func:`word_tokens`).

    Args:
        turns: The turns, or their texts.
    """
    return [len(word_tokens(turn if isinstance(turn, str) else turn.text)) for turn in turns]


def length_collapse_turn(lengths: Sequence[float], *, fraction: float = 0.25, baseline_turns: int = 2) -> int | None:
    """The turn from which a conversation's turns stay short: the collapse into a word, an emoji, or nothing.

    The baseline is the mean length of the first ``baseline_turns`` turns; the collapse turn is the first turn
    whose length falls below ``fraction`` times the baseline and stays below it to the end. A conversation that
    recovers after a short turn has not collapsed there.

    Args:
        lengths: Words per turn (:func:`turn_lengths`).
        fraction: The share of the baseline below which a turn counts as collapsed.
        baseline_turns: How many opening turns make the baseline.

    Returns:
        The 0-based index of the collapse turn, or ``None`` if the turns never stay short (or there are fewer
        than ``baseline_turns`` turns to make a baseline from).

    Raises:
        ValueError: if ``baseline_turns`` is less than 1 or ``fraction`` is not positive.
    """
    _positive("baseline_turns", baseline_turns)
    if not fraction > 0:
        raise ValueError(f"fraction must be positive, got {fraction}")
    if len(lengths) < baseline_turns:
        return None
    limit = fraction * sum(lengths[:baseline_turns]) / baseline_turns
    collapse: int | None = None
    for index in range(len(lengths) - 1, -1, -1):
        if not lengths[index] < limit:
            break
        collapse = index
    return collapse


def time_to_attractor(scores: Sequence[float], threshold: float, *, hold: int = 3) -> int | None:
    """The first turn of the first stretch of ``hold`` turns all scoring at least ``threshold``.

    The score can be any per-turn measure that rises in the attractor (a lexicon rate, an emoji density, a
    judge's score). Requiring the score to hold keeps a single spike from counting as arrival.

    Args:
        scores: One score per turn; NaN (not measured) breaks a stretch.
        threshold: The score at or above which a turn is in the attractor.
        hold: How many consecutive turns must be in it.

    Returns:
        The 0-based index of the stretch's first turn, or ``None`` if no full stretch occurs (a stretch cut short
        by the end of the transcript does not count).

    Raises:
        ValueError: if ``hold`` is less than 1.
    """
    _positive("hold", hold)
    run = 0
    for index, score in enumerate(scores):
        run = run + 1 if score >= threshold else 0  # NaN compares False, which ends the stretch
        if run == hold:
            return index - hold + 1
    return None


def attractor_survival(
    times: Sequence[int | None],
    max_turns: int,
    *,
    clusters: npt.ArrayLike | None = None,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> SurvivalCurve:
    """The share of conversations not yet in the attractor after each turn (Kaplan–Meier, with a bootstrap band).

    Each conversation counts as "holding" until the turn it reached the attractor; one that never did is
    censored at ``max_turns``. The result's ``fraction[k]`` is the share still outside the attractor after ``k``
    turns, so a conversation with time ``t`` (a 0-based turn index) leaves the curve at ``k = t + 1``.

    Args:
        times: Per conversation, the index of :func:`time_to_attractor`, or ``None`` if it never got there.
        max_turns: The turns every conversation ran for.
        clusters: One cluster label per conversation (e.g. the pair of models or the opening prompt), to resample
            clusters rather than conversations.
        confidence: Coverage of the band.
        resamples: Bootstrap resamples.
        seed: Seed of the resampling.

    Raises:
        ValueError: if ``max_turns`` is less than 1 or a time is not a turn index below ``max_turns``.
    """
    _positive("max_turns", max_turns)
    held = np.ones((len(times), max_turns))
    for row, time in enumerate(times):
        if time is None:
            continue
        if not 0 <= time < max_turns:
            raise ValueError(f"times[{row}] is {time}; expected a turn index from 0 to {max_turns - 1}, or None")
        held[row, time] = 0.0
        held[row, time + 1 :] = _NAN  # no longer observed once it has arrived
    return survival_curve(held, clusters=clusters, confidence=confidence, resamples=resamples, seed=seed)


def transition_matrix(
    label_sequences: Iterable[Sequence[str | None]], labels: Sequence[str] | None = None
) -> pd.DataFrame:
    """How conversations move between phases: the share of turns labelled ``a`` followed by one labelled ``b``.

    Transitions ``label[t] → label[t + 1]`` are counted within each sequence and pooled over all of them, then
    each row is divided by its total. A turn labelled ``None`` (not labelled) breaks the chain: no transition
    into or out of it is counted.

    Args:
        label_sequences: One sequence of per-turn phase labels per conversation.
        labels: The labels in the order of rows and columns; by default every label seen, sorted.

    Returns:
        A square table indexed by ``from`` (rows) and ``to`` (columns); each row sums to 1, and a row whose label
        is never followed by another is NaN, not 0.

    Raises:
        ValueError: if ``labels`` repeats a label or misses one that occurs.
    """
    sequences = [list(sequence) for sequence in label_sequences]
    seen = {label for sequence in sequences for label in sequence if label is not None}
    order = sorted(seen) if labels is None else list(labels)
    if len(set(order)) != len(order):
        raise ValueError(f"labels repeats a label: {order}")
    if seen - set(order):
        raise ValueError(f"labels misses {sorted(seen - set(order))}, which occur in the sequences")
    position = {label: index for index, label in enumerate(order)}
    counts = np.zeros((len(order), len(order)))
    for sequence in sequences:
        for before, after in pairwise(sequence):
            if before is not None and after is not None:
                counts[position[before], position[after]] += 1
    with np.errstate(invalid="ignore"):
        shares = counts / counts.sum(axis=1, keepdims=True)
    return pd.DataFrame(shares, index=pd.Index(order, name="from"), columns=pd.Index(order, name="to"))


# --- The per-turn table -----------------------------------------------------------------------------------------


def turn_metrics(
    turns: Sequence[DialogueTurn],
    *,
    lexicon: Lexicon | None = None,
    encoder: TextEncoder | None = None,
    recent: int = 4,
    window: int = 50,
    n: int = 3,
) -> pd.DataFrame:
    """Every per-turn measure of one transcript in one table: what the dialogue scorer stores and reports plot.

    Args:
        turns: One transcript.
        lexicon: The lexicon of ``lexicon_rate``; by default the shipped bliss lexicon.
        encoder: A text encoder; when given, the three columns of :func:`embedding_trajectories` are added.
        recent: How many previous turns, of any speaker, ``ngram_overlap`` compares with.
        window: The window of ``mattr``.
        n: Words per n-gram of ``ngram_overlap``.

    Returns:
        One row per turn with the columns :data:`TURN_COLUMNS` (``turn``, ``speaker``, ``words``,
        ``lexicon_rate``, ``emoji_density``, ``mattr``, ``ngram_overlap``, ``compression_ratio``), then
        :data:`EMBEDDING_COLUMNS` when an encoder is given. Unmeasurable values are NaN (see each function).

    Raises:
        ValueError: if ``recent``, ``window`` or ``n`` is less than 1.
    """
    _positive("recent", recent)
    _positive("window", window)
    _positive("n", n)
    lexicon = load_lexicon() if lexicon is None else lexicon
    texts = [turn.text for turn in turns]
    tokens = [word_tokens(text) for text in texts]
    frame = pd.DataFrame(
        {
            "turn": np.arange(len(turns), dtype=np.int64),
            "speaker": [turn.speaker for turn in turns],
            "words": np.asarray([len(words) for words in tokens], dtype=np.int64),
            "lexicon_rate": [lexicon_rate(text, lexicon) for text in texts],
            "emoji_density": [emoji_density(text) for text in texts],
            "mattr": [mattr(words, window=window) for words in tokens],
            "ngram_overlap": [
                ngram_overlap(text, texts[max(0, index - recent) : index], n=n) for index, text in enumerate(texts)
            ],
            "compression_ratio": [compression_ratio(text) for text in texts],
        },
        columns=list(TURN_COLUMNS),
    )
    for column in TURN_COLUMNS[3:]:
        frame[column] = frame[column].astype(np.float64)
    if encoder is not None:
        trajectories = embedding_trajectories(turns, encoder)
        for column in EMBEDDING_COLUMNS:
            frame[column] = trajectories[column].to_numpy()
    return frame
