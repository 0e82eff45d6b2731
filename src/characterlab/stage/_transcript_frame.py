"""The transcript frame: a character put on a *base* model as a plain-text dialogue for it to continue.

A pretrained model has no chat template and no notion of "assistant"; what it does is continue documents. So the
character is staged as a document — notes on who they are, earlier conversations, then this conversation ending
in the character's name and a colon — and the model's continuation, cut at the next speaker's name, is the reply.
"""

from __future__ import annotations

from dataclasses import dataclass

from characterlab.characters import Character
from characterlab.stage._context import FrameMessage, StageContext
from characterlab.stage._sections import (
    Turn,
    character_sections,
    example_exchanges,
    format_turns,
    opening_message,
)

__all__ = ["TranscriptFrame", "render_transcript_frame", "render_transcript_from_messages"]

_DEFAULT_CONTEXT = StageContext()


@dataclass(frozen=True)
class TranscriptFrame:
    """A prompt for a base model, and how to tell where the character's turn ends."""

    prompt: str
    """The document so far, ending with the character's name and a colon."""
    stop_sequences: tuple[str, ...]
    """Text that begins the next turn: generation stops at the first of these."""
    char: str
    """The character's name as it appears in the transcript."""
    user: str
    """The user's name as it appears in the transcript."""

    def reply_from(self, continuation: str) -> str:
        """Cut a model's continuation at the first stop sequence, giving the character's reply.

        Backends that ignore stop sequences generate past the turn; this recovers the turn from their output.
        """
        end = min((i for i in (continuation.find(s) for s in self.stop_sequences) if i >= 0), default=None)
        return continuation[:end].strip()


def render_transcript_frame(character: Character, context: StageContext = _DEFAULT_CONTEXT) -> TranscriptFrame:
    """Render a character as a transcript for a base model to continue as the character.

    Args:
        character: The character to play.
        context: The user's name, greeting choice, examples, excerpts and the conversation so far. System messages
            in ``context.history`` are left out: a transcript has only speakers.

    Returns:
        The frame. Deterministic: the same inputs give the same prompt.
    """
    char, user = character.display_name, context.user_name
    parts = [f"{section.title}:\n{section.body}" for section in character_sections(character, context, "third")]
    if context.examples != "none":
        earlier = example_exchanges(character, context)
        if earlier:
            shown = "\n\n* * *\n\n".join(format_turns(turns, char, user) for turns in earlier)
            parts.append(f"Earlier conversations with {char}:\n\n{shown}")
    turns: list[Turn] = []
    greeting = opening_message(character, context)
    if greeting is not None:
        turns.append(Turn("char", greeting))
    turns += [
        Turn("char" if message.role == "assistant" else "user", message.content)
        for message in context.history
        if message.role != "system"
    ]
    return _transcript(parts, turns, char=char, user=user)


def render_transcript_from_messages(
    messages: list[FrameMessage], *, char: str = "Assistant", user: str = "User"
) -> TranscriptFrame:
    """Render any chat conversation as a transcript for a base model to continue as the assistant.

    This is how a model without a chat template takes part in a task written as chat messages: system messages
    become the notes before the conversation (all of them, in order, wherever they stood), user and assistant
    messages become the speakers' lines, and the prompt ends with the assistant's name and a colon.

    Args:
        messages: The conversation; the last message is usually the user's.
        char: The name the assistant speaks under.
        user: The name the user speaks under.

    Returns:
        The frame. Deterministic: the same inputs give the same prompt.
    """
    notes = [message.content.strip() for message in messages if message.role == "system" and message.content.strip()]
    turns = [
        Turn("char" if message.role == "assistant" else "user", message.content)
        for message in messages
        if message.role != "system"
    ]
    return _transcript(notes, turns, char=char, user=user)


def _transcript(notes: list[str], turns: list[Turn], *, char: str, user: str) -> TranscriptFrame:
    # Both frames share one document shape, so a base model sees the same cues whichever way it is staged.
    parts = [f"The following is a transcript of a conversation between {char} and {user}.", *notes]
    conversation = format_turns(turns, char, user)
    body = "\n\n".join(parts) + "\n\nThe conversation:\n\n" + (f"{conversation}\n" if conversation else "")
    return TranscriptFrame(
        prompt=f"{body}{char}:",
        stop_sequences=(f"\n{user}:", f"\n{char}:"),
        char=char,
        user=user,
    )
