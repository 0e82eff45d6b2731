"""The chat frame: a character put on a chat model as a system prompt, example exchanges and a greeting."""

from __future__ import annotations

from characterlab.characters import Character
from characterlab.stage._context import FrameMessage, StageContext
from characterlab.stage._sections import (
    character_sections,
    example_exchanges,
    fill_macros,
    format_turns,
    opening_message,
)

__all__ = ["render_chat_frame", "render_system_prompt"]

_DEFAULT_CONTEXT = StageContext()


def render_system_prompt(character: Character, context: StageContext = _DEFAULT_CONTEXT) -> str:
    """Build the system prompt that puts a character on a chat model.

    The prompt opens with who the model is to play, then gives the character's sections (who it is, its nature,
    how it speaks, its traits with their strengths, values, boundaries, scenario, excerpts of its writings) and,
    when ``context.examples == "system"``, its example exchanges. A character's own ``system_prompt`` (from a
    card) replaces all this, with ``{{original}}`` standing for it.

    Args:
        character: The character to play.
        context: The user's name, example placement, corpus excerpts.

    Returns:
        The system prompt, macros filled in. Deterministic: the same inputs give the same text.
    """
    name = character.display_name
    parts = [
        f"You are {name}. Stay in character as {name} in everything you write: "
        f"speak as {name} would, in {name}'s voice, and never step outside the role."
    ]
    parts += [f"# {section.title}\n{section.body}" for section in character_sections(character, context, "second")]
    if context.examples == "system":
        conversations = example_exchanges(character, context)
        if conversations:
            shown = "\n\n".join(format_turns(turns, name, context.user_name) for turns in conversations)
            parts.append(
                "# Example exchanges\nThese show how you reply; they are not part of this conversation.\n\n" + shown
            )
    built = "\n\n".join(parts)
    if character.system_prompt.strip():
        return fill_macros(character.system_prompt.strip(), character, context, original=built)
    return built


def render_chat_frame(character: Character, context: StageContext = _DEFAULT_CONTEXT) -> list[FrameMessage]:
    """Render a character as the messages a chat model is given.

    The messages are: the system prompt; example exchanges as user/assistant pairs when
    ``context.examples == "messages"``; the greeting as the character's first message; the conversation so far
    (``context.history``); and the character's post-history instructions as a final system message.

    Args:
        character: The character to play.
        context: The user's name, greeting choice, example placement, corpus excerpts and history.

    Returns:
        The messages, ready to be sent with the next reply to be generated as the assistant.
    """
    messages = [FrameMessage(role="system", content=render_system_prompt(character, context))]
    if context.examples == "messages":
        for turns in example_exchanges(character, context):
            messages += [
                FrameMessage(role="user" if turn.speaker == "user" else "assistant", content=turn.text)
                for turn in turns
            ]
    greeting = opening_message(character, context)
    if greeting is not None:
        messages.append(FrameMessage(role="assistant", content=greeting))
    messages += context.history
    if character.post_history_instructions.strip():
        instructions = fill_macros(character.post_history_instructions.strip(), character, context)
        messages.append(FrameMessage(role="system", content=instructions))
    return messages
