"""Turning a staged frame into the chat messages Inspect sends to a model."""

from __future__ import annotations

from collections.abc import Sequence

from inspect_ai.model import ChatMessage, ChatMessageAssistant, ChatMessageSystem, ChatMessageUser

from characterlab.stage import FrameMessage

__all__ = ["chat_messages"]


def chat_messages(frame: Sequence[FrameMessage]) -> list[ChatMessage]:
    """Stage messages (a rendered frame, or any list of them) as Inspect chat messages, in the same order."""
    messages: list[ChatMessage] = []
    for message in frame:
        if message.role == "system":
            messages.append(ChatMessageSystem(content=message.content))
        elif message.role == "user":
            messages.append(ChatMessageUser(content=message.content))
        else:
            messages.append(ChatMessageAssistant(content=message.content))
    return messages
