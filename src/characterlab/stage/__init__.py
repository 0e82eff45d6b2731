"""Staging: pure functions that put a character on a model, as chat messages or as a base-model transcript."""

from characterlab.stage._chat_frame import render_chat_frame, render_system_prompt
from characterlab.stage._context import FrameMessage, StageContext
from characterlab.stage._sections import strength_label
from characterlab.stage._transcript_frame import (
    TranscriptFrame,
    render_transcript_frame,
    render_transcript_from_messages,
)

__all__ = [
    "FrameMessage",
    "StageContext",
    "TranscriptFrame",
    "render_chat_frame",
    "render_system_prompt",
    "render_transcript_frame",
    "render_transcript_from_messages",
    "strength_label",
]
