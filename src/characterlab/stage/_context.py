"""What a frame is rendered from besides the character: who the user is, which greeting, the talk so far."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["FrameMessage", "StageContext"]


class FrameMessage(BaseModel):
    """One message of a chat frame."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str


class StageContext(BaseModel):
    """The circumstances a character is rendered in. The defaults give a fresh conversation with a user named User.

    Every option is part of a study's recorded configuration, so that a prompt can be rebuilt from a log.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_name: str = "User"
    """What ``{{user}}`` stands for, and the user's name in a transcript."""
    greeting: int | None = 0
    """Which opening message the character starts with: 0 for ``greeting``, ``n`` for the n-th of
    ``alternate_greetings``, ``None`` for none."""
    examples: Literal["system", "messages", "none"] = "system"
    """Where example exchanges go: written into the system prompt, as user/assistant message pairs before the
    conversation (some models imitate these more closely), or nowhere."""
    examples_per_trait: int = Field(default=2, ge=0)
    """How many examples of each trait to show (counterexamples for traits below 0.5, which the character lacks)."""
    excerpts: list[str] = []
    """Passages of the character's own writings to ground the reply in (corpus-grounded characters)."""
    history: list[FrameMessage] = []
    """The conversation so far, after the greeting: user and assistant messages, the last usually the user's."""
