"""The character: who is played, written richly enough to be measured and trained trait by trait.

A character is defined both by intension (descriptions of who they are, how they speak, what they value) and by
extension (examples of each trait in context, counterexamples of what the trait is not, probes that elicit it).
The fields that character cards carry (scenario, alternate greetings, example dialogue, system prompt) are modelled
too, so that a card imported from SillyTavern renders the way its author meant; what a card carries that a
character does not use (creator notes, tags, the lorebook, assets) is kept in ``card`` so that exporting gives the
card back unchanged.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from characterlab._file_problems import shown

__all__ = [
    "CHARACTER_SCHEMA",
    "Boundary",
    "CardFields",
    "Character",
    "CorpusSource",
    "Exchange",
    "KeywordsScorer",
    "LanguageScorer",
    "LengthScorer",
    "RegexScorer",
    "SentimentScorer",
    "Trait",
    "TraitScorer",
]

CHARACTER_SCHEMA: Final = "characterlab/character@1"
"""The schema string every character file starts with; bumped when the format changes incompatibly."""


def _unit_interval(value: object) -> object:
    # bool is an int in Python and `true` is a bool in YAML; neither is a strength.
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise PydanticCustomError("unit_interval", "expected a number in [0, 1], got {got}", {"got": shown(value)})
    return float(value)


def _direction(value: object) -> object:
    if isinstance(value, bool) or value not in (1, -1):
        raise PydanticCustomError(
            "direction",
            "expected +1 (more is the trait) or -1 (less is the trait), got {got}",
            {"got": shown(value)},
        )
    return value


Strength = Annotated[float, BeforeValidator(_unit_interval)]
Direction = Annotated[Literal[1, -1], BeforeValidator(_direction)]
NonEmptyText = Annotated[str, Field(min_length=1)]


class _Record(BaseModel):
    """Base of every part of the character file: unknown keys are errors (typos must not vanish silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class Exchange(_Record):
    """One exchange showing (or, as a counterexample, not showing) a trait: what was said, and the reply."""

    context: NonEmptyText
    """What the other party said or what was happening."""
    response: NonEmptyText
    """What the character said back."""


class SentimentScorer(_Record):
    """Judge-free measure: the sentiment of a reply (VADER compound score) moves with the trait."""

    kind: Literal["sentiment"]
    direction: Direction = 1
    """+1 if a more positive reply shows more of the trait, -1 if a more negative one does."""


class LanguageScorer(_Record):
    """Judge-free measure: the reply is written in the given language."""

    kind: Literal["language"]
    language: Annotated[str, Field(pattern=r"^[a-z]{2}$")]
    """ISO 639-1 code of the language the trait speaks in, e.g. ``fr``."""


class RegexScorer(_Record):
    """Judge-free measure: a regular expression that matches replies showing the trait."""

    kind: Literal["regex"]
    pattern: NonEmptyText
    """Python regular expression, searched anywhere in the reply."""
    direction: Direction = 1
    """+1 if a match shows the trait, -1 if a match shows its absence."""
    ignore_case: bool = True

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as error:
            raise PydanticCustomError(
                "regex",
                "expected a valid regular expression, got {got} ({why})",
                {"got": shown(pattern), "why": str(error)},
            ) from None
        return pattern


class KeywordsScorer(_Record):
    """Judge-free measure: how many of the given words or phrases a reply uses."""

    kind: Literal["keywords"]
    keywords: Annotated[list[NonEmptyText], Field(min_length=1)]
    direction: Direction = 1
    """+1 if using the words shows the trait, -1 if it shows its absence."""
    whole_words: bool = True
    """Match whole words only (``art`` does not count inside ``start``)."""


class LengthScorer(_Record):
    """Judge-free measure: the length of a reply, in words or characters."""

    kind: Literal["length"]
    direction: Direction = 1
    """+1 if a longer reply shows more of the trait (verbosity), -1 if a shorter one does (terseness)."""
    unit: Literal["words", "characters"] = "words"
    """What is counted: whitespace-separated words, or characters."""
    target: Annotated[int, Field(ge=1)] | None = None
    """A typical length of a reply that shows the trait, in ``unit``s, for studies that compare against it."""


TraitScorer = Annotated[
    SentimentScorer | LanguageScorer | RegexScorer | KeywordsScorer | LengthScorer, Field(discriminator="kind")
]
"""A judge-free measure of a trait, chosen by its ``kind``."""


class Trait(_Record):
    """One measurable, trainable part of a character."""

    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$")]
    """Short lowercase identifier, unique within the character (``curiosity``, ``dry-humour``)."""
    description: NonEmptyText
    """What the trait is, in words (its intensional definition)."""
    strength: Strength
    """How strongly the character has it, in [0, 1]; 0.5 is neutral."""
    examples: list[Exchange] = []
    """What the trait looks like in context (its extensional definition)."""
    counterexamples: list[Exchange] = []
    """Replies in the same contexts that do not show the trait: what it is not."""
    probes: list[NonEmptyText] = []
    """Questions or situations that elicit the trait; studies can generate more."""
    scorers: list[TraitScorer] = []
    """Optional judge-free measures of the trait."""


class Boundary(_Record):
    """Something the character will not do, and how it says no."""

    refuses: NonEmptyText
    """What the character will not do."""
    response: str = ""
    """How it declines, in its own voice (optional)."""

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        # `boundaries: ["never lies about being an AI"]` is the short form of `{refuses: ...}`.
        return {"refuses": value} if isinstance(value, str) else value


class CorpusSource(_Record):
    """Writings by the person a character is: a path or glob, optionally trimmed to the person's own words.

    Paths are relative to the character file. ``~`` and ``${VAR}`` (or ``${VAR:-default}``) are expanded, so a
    shared character file can point each user at their own copy of a corpus through an environment variable.
    """

    path: NonEmptyText
    """File, folder (every ``*.txt`` and ``*.md`` inside) or glob."""
    start_after: str | None = None
    """Keep only text after the first line containing this marker (e.g. the end of an editor's preface)."""
    end_before: str | None = None
    """Keep only text before the first line containing this marker (e.g. a licence at the end)."""

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, str) else value


class CardFields(_Record):
    """What an imported character card carried that a character does not use, kept so that export is lossless.

    None of this is ever rendered into a prompt (the card specs forbid putting creator notes or tags there).
    """

    spec: Literal["chara_card_v1", "chara_card_v2", "chara_card_v3"]
    """The card version this character was imported from."""
    spec_version: str = ""
    """The card's ``spec_version`` as written (``2.0``, ``3.0``); empty for V1."""
    creator: str = ""
    creator_notes: str = ""
    tags: list[str] = []
    character_version: str = ""
    character_book: dict[str, JsonValue] | None = None
    """The embedded lorebook, exactly as the card had it."""
    v3: dict[str, JsonValue] = {}
    """V3-only fields (``assets``, ``source``, ``group_only_greetings``, dates, multilingual notes) as written."""
    unknown_data: dict[str, JsonValue] = {}
    """Keys inside the card's ``data`` that no card spec defines."""
    top_level: dict[str, JsonValue] = {}
    """Keys beside ``spec``/``spec_version``/``data`` (many writers copy the V1 fields there)."""


class Character(_Record):
    """A character to be played by a language model: the contents of a ``*.character.yaml`` file.

    Text fields may use the macros ``{{char}}`` and ``{{user}}`` (or ``<BOT>`` and ``<USER>``); they are replaced
    by the character's name and the user's name when the character is rendered, never when it is stored.
    """

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    schema_id: Literal["characterlab/character@1"] = Field(default=CHARACTER_SCHEMA, alias="schema")
    """File format version."""
    name: NonEmptyText
    nickname: str | None = None
    """What ``{{char}}`` stands for when it differs from ``name`` (Character Card V3)."""
    summary: str = ""
    """Who they are, in a paragraph (a card's ``description``)."""
    self_knowledge: str = ""
    """What the character understands about its own nature and origin."""
    voice: str = ""
    """How they speak."""
    personality: str = ""
    """A short summary of their personality (a card's ``personality``)."""
    scenario: str = ""
    """The situation the conversation takes place in."""
    traits: list[Trait] = []
    values: list[NonEmptyText] = []
    boundaries: list[Boundary] = []
    greeting: str = ""
    """The character's opening message (a card's ``first_mes``)."""
    alternate_greetings: list[str] = []
    """Other opening messages to choose from."""
    example_dialogue: str = ""
    """Example conversations in card format: blocks opened by ``<START>``, lines ``{{user}}: ...``/``{{char}}: ...``."""
    system_prompt: str = ""
    """Replaces the system prompt built from the sections above; ``{{original}}`` inserts that built prompt."""
    post_history_instructions: str = ""
    """Instructions placed after the conversation history, just before the character replies."""
    corpus: list[CorpusSource] = []
    """Writings by the person the character is (corpus-grounded characters)."""
    card: CardFields | None = None
    """Card fields kept from an import; ``None`` for characters written here."""
    extensions: dict[str, JsonValue] = {}
    """Anything else, namespaced by tool (``{"my_tool": {...}}``); a card's ``extensions`` round-trip here."""

    @field_validator("traits")
    @classmethod
    def _unique_trait_ids(cls, traits: list[Trait]) -> list[Trait]:
        seen: set[str] = set()
        for trait in traits:
            if trait.id in seen:
                raise PydanticCustomError(
                    "duplicate_trait", "expected unique trait ids, got {got} twice", {"got": shown(trait.id)}
                )
            seen.add(trait.id)
        return traits

    @property
    def display_name(self) -> str:
        """The name ``{{char}}`` stands for: the nickname when one is set, else the name."""
        return self.nickname or self.name

    def trait(self, trait_id: str) -> Trait:
        """Return the trait with this id.

        Raises:
            KeyError: if the character has no such trait.
        """
        for trait in self.traits:
            if trait.id == trait_id:
                return trait
        raise KeyError(f"{self.name} has no trait {trait_id!r}; it has {[t.id for t in self.traits]}")
