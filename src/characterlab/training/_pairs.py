"""Preference pairs: the character's reply (the teacher, staged with the full character) against the student's
default reply (no character), for every training prompt; written as they arrive, so a stopped run resumes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from inspect_ai.model import ChatMessage, ChatMessageUser, GenerateConfig, Model

from characterlab.characters import Character
from characterlab.models import chat_messages
from characterlab.stage import StageContext, render_chat_frame
from characterlab.training._records import PreferencePair, TrainingPrompt, append_as_completed, read_records

__all__ = ["generate_pairs", "staged_messages"]


def staged_messages(character: Character | None, prompt: str) -> list[ChatMessage]:
    """The conversation a model answers: the character's full chat frame (when given), then the user's message."""
    frame = chat_messages(render_chat_frame(character, StageContext(examples="messages"))) if character else []
    return [*frame, ChatMessageUser(content=prompt)]


async def generate_pairs(
    character: Character,
    prompts: Sequence[TrainingPrompt],
    *,
    teacher: Model,
    student: Model,
    path: Path,
    max_tokens: int = 256,
    temperature: float = 0.7,
    seed: int = 0,
) -> list[PreferencePair]:
    """Write a preference pair for every prompt that has none in ``path`` yet, and return all pairs of the prompts.

    Args:
        character: The character the teacher plays.
        prompts: The user messages.
        teacher: Writes the chosen reply, staged with the full character.
        student: Writes the rejected reply, with no character (its default persona).
        path: The run's pairs file (JSON Lines); pairs already in it are kept and not generated again.
        max_tokens: Longest reply.
        temperature: Sampling temperature of both replies.
        seed: Seed of the generations (each prompt's is derived from it).

    Returns:
        The pairs of ``prompts``, in their order.
    """
    done = {pair.prompt_id: pair for pair in read_records(path, PreferencePair)}
    # Each prompt's seed comes from its place among all prompts, so a resumed run writes what the first would have.
    missing = [(index, prompt) for index, prompt in enumerate(prompts) if prompt.id not in done]
    config = GenerateConfig(max_tokens=max_tokens, temperature=temperature)

    async def one(index: int, prompt: TrainingPrompt) -> PreferencePair:
        seeded = config.merge(GenerateConfig(seed=seed + index))
        chosen, rejected = await asyncio.gather(
            teacher.generate(staged_messages(character, prompt.text), config=seeded),
            student.generate(staged_messages(None, prompt.text), config=seeded),
        )
        return PreferencePair(
            prompt_id=prompt.id,
            prompt=prompt.text,
            trait=prompt.trait,
            split=prompt.split,
            chosen=chosen.completion.strip(),
            rejected=rejected.completion.strip(),
            teacher=str(teacher),
            student=str(student),
        )

    for pair in await append_as_completed(path, [one(index, prompt) for index, prompt in missing]):
        done[pair.prompt_id] = pair
    return [done[prompt.id] for prompt in prompts]
