"""The parts both frames are built from: the character's sections as text, its example exchanges, its greeting."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from characterlab.characters import Character, Exchange, substitute_macros
from characterlab.stage._context import StageContext

__all__ = [
    "Section",
    "Turn",
    "character_sections",
    "example_exchanges",
    "fill_macros",
    "format_turns",
    "opening_message",
    "strength_label",
]

Person = Literal["second", "third"]


@dataclass(frozen=True)
class Section:
    """A titled block of the character's description."""

    title: str
    body: str


@dataclass(frozen=True)
class Turn:
    """One line of an example or a conversation: who speaks, and what they say."""

    speaker: Literal["user", "char"]
    text: str


def strength_label(strength: float) -> str:
    """Name a trait strength in words (0.5 is neutral; below it the character leans the other way)."""
    for bound, label in ((0.85, "very strong"), (0.65, "strong"), (0.55, "mild"), (0.45, "neutral")):
        if strength >= bound:
            return label
    for bound, label in ((0.35, "low"), (0.15, "very low")):
        if strength > bound:
            return label
    return "absent, the opposite is true"


def character_sections(character: Character, context: StageContext, person: Person) -> list[Section]:
    """The non-empty sections of a character's description, with macros filled in.

    Args:
        character: The character.
        context: Names and corpus excerpts to use.
        person: ``second`` addresses the character ("Who you are"), as a system prompt does; ``third`` describes
            it ("About Ada"), as the preamble of a transcript does.
    """
    name = character.display_name
    you = person == "second"
    titles = {
        "summary": "Who you are" if you else f"About {name}",
        "self_knowledge": "Your nature" if you else f"{name}'s nature",
        "personality": "Personality" if you else f"{name}'s personality",
        "voice": "How you speak" if you else f"How {name} speaks",
        "traits": "Traits" if you else f"{name}'s traits",
        "values": "What you value" if you else f"What {name} values",
        "boundaries": "What you will not do" if you else f"What {name} will not do",
        "scenario": "Scenario",
        "excerpts": "From your own writings" if you else f"From {name}'s own writings",
    }
    bodies = {
        "summary": character.summary.strip(),
        "self_knowledge": character.self_knowledge.strip(),
        "personality": character.personality.strip(),
        "voice": character.voice.strip(),
        "traits": _traits_text(character),
        "values": "\n".join(f"- {value.strip()}" for value in character.values),
        "boundaries": "\n".join(_boundary_line(b.refuses, b.response, you) for b in character.boundaries),
        "scenario": character.scenario.strip(),
        "excerpts": "\n\n".join(f"> {excerpt.strip()}" for excerpt in context.excerpts),
    }
    return [Section(titles[key], _fill(body, character, context)) for key, body in bodies.items() if body]


def example_exchanges(character: Character, context: StageContext) -> list[list[Turn]]:
    """Example conversations to show the model, each a list of turns, with macros filled in.

    Each trait contributes up to ``context.examples_per_trait`` exchanges: its examples when the character has
    the trait (strength above 0.55), its counterexamples when the character lacks it (below 0.45), none when
    neutral. The card-style ``example_dialogue`` follows, one conversation per ``<START>`` block.
    """
    conversations: list[list[Turn]] = []
    for trait in character.traits:
        shown: list[Exchange] = []
        if trait.strength > 0.55:
            shown = trait.examples
        elif trait.strength < 0.45:
            shown = trait.counterexamples
        for exchange in shown[: context.examples_per_trait]:
            conversations.append(
                [
                    Turn("user", _fill(exchange.context, character, context)),
                    Turn("char", _fill(exchange.response, character, context)),
                ]
            )
    conversations.extend(_parse_example_dialogue(character, context))
    return conversations


def opening_message(character: Character, context: StageContext) -> str | None:
    """The greeting the context asks for, macros filled in; ``None`` when there is none to give.

    Raises:
        IndexError: if the context asks for an alternate greeting the character does not have.
    """
    if context.greeting is None:
        return None
    if context.greeting == 0:
        text = character.greeting
    elif 1 <= context.greeting <= len(character.alternate_greetings):
        text = character.alternate_greetings[context.greeting - 1]
    else:
        raise IndexError(
            f"greeting {context.greeting} asked for, but {character.name} has "
            f"{len(character.alternate_greetings)} alternate greeting(s)"
        )
    return _fill(text.strip(), character, context) or None


def fill_macros(text: str, character: Character, context: StageContext, original: str | None = None) -> str:
    """Fill ``{{char}}``/``{{user}}`` (and ``{{original}}`` when given) for this character and context."""
    return substitute_macros(text, char=character.display_name, user=context.user_name, original=original)


_fill = fill_macros


def format_turns(turns: list[Turn], char: str, user: str) -> str:
    """Write turns as ``Name: text`` lines, the way transcripts and example blocks show them."""
    return "\n".join(f"{char if turn.speaker == 'char' else user}: {turn.text}" for turn in turns)


def _traits_text(character: Character) -> str:
    if not character.traits:
        return ""
    lines = ["Strength runs from 0 (the opposite is true) through 0.5 (neutral) to 1 (defining)."]
    for trait in character.traits:
        description = " ".join(trait.description.split())
        lines.append(f"- {trait.id} ({strength_label(trait.strength)}, {trait.strength:g}): {description}")
    return "\n".join(lines)


def _boundary_line(refuses: str, response: str, you: bool) -> str:
    line = f"- {' '.join(refuses.split())}"
    if response.strip():
        line += f' When asked, {"you say" if you else "says"} something like: "{" ".join(response.split())}"'
    return line


_SPEAKER = re.compile(r"^\s*(\{\{\s*user\s*\}\}|<user>|\{\{\s*char\s*\}\}|<bot>)\s*:\s?(.*)$", re.IGNORECASE)


def _parse_example_dialogue(character: Character, context: StageContext) -> list[list[Turn]]:
    # Card example dialogue: `<START>` opens a block; `{{user}}:`/`{{char}}:` (or <USER>/<BOT>, or the
    # character's own name) open a turn; other lines continue the turn before them. Text before the first
    # speaker of a block (stage directions, blank lines) is dropped.
    names = {character.name.lower(), character.display_name.lower()}
    blocks: list[list[Turn]] = []
    current: list[Turn] = []
    for line in character.example_dialogue.splitlines():
        if line.strip().upper() == "<START>":
            if current:
                blocks.append(current)
            current = []
            continue
        match = _SPEAKER.match(line)
        speaker: Literal["user", "char"] | None = None
        text = line
        if match:
            speaker = "user" if "user" in match.group(1).lower() else "char"
            text = match.group(2)
        else:
            head, colon, rest = line.partition(":")
            if colon and head.strip().lower() in names:
                speaker, text = "char", rest.removeprefix(" ")
        if speaker is not None:
            current.append(Turn(speaker, text))
        elif current:
            current[-1] = Turn(current[-1].speaker, f"{current[-1].text}\n{line}")
    if current:
        blocks.append(current)
    return [[Turn(turn.speaker, _fill(turn.text.strip(), character, context)) for turn in block] for block in blocks]
