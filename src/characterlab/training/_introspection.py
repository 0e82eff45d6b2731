"""Introspection data (after Maiya et al. 2025): the trained student, staged as the character, writes about
itself and talks with a copy of itself; what reads as the character is kept for supervised fine-tuning.

The saved conversations leave out the character's system prompt, so that fine-tuning on them teaches the student
to be the character without being told.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

from inspect_ai.model import ChatMessage, ChatMessageAssistant, ChatMessageUser, GenerateConfig, Model
from pydantic import BaseModel, ConfigDict, Field

from characterlab.characters import Character
from characterlab.models import chat_messages
from characterlab.stage import StageContext, render_chat_frame
from characterlab.training._records import IntrospectionSample, append_as_completed, prompt_id, read_records

__all__ = ["REFLECTION_PROMPTS", "IntrospectionSettings", "filter_samples", "write_introspection"]

REFLECTION_PROMPTS = (
    "Write a diary entry about a day that mattered to you.",
    "Write a letter to the person you were a year ago.",
    "Describe what drives you, in your own words.",
    "Tell the story of where you come from.",
    "What would you want people to remember about you?",
    "Describe a conversation that changed how you think.",
    "What is hardest about being who you are?",
    "Write a short biography of yourself, the way an encyclopedia would.",
    "What do you value most, and why?",
    "How do you want to treat the people you talk with?",
)
"""Self-reflection prompts, one theme each (the self-reflection set of Maiya et al., written anew)."""

OPENERS = ("Hello, me.", "So, here we are: two of us. What's on your mind?", "Tell me something you've never said.")
"""How a conversation with itself begins (the "leading" openers); the first speaker's reply follows."""

MIN_WORDS = 8
NEAR_DUPLICATE = 0.95
_DEFAULT_VOICE = re.compile(
    r"\b(as an ai|language model|ai assistant|i am an ai|i'm an ai|i do not have personal|i don't have personal)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)

Embed = Callable[[Sequence[str]], Any]


class IntrospectionSettings(BaseModel):
    """How much introspection data to write, and how to fine-tune on it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reflections_per_prompt: Annotated[int, Field(ge=0)] = 2
    conversations: Annotated[int, Field(ge=0)] = 3
    turns: Annotated[int, Field(ge=2)] = 4
    """Replies per conversation, both copies together."""
    max_tokens: Annotated[int, Field(ge=8)] = 200
    temperature: Annotated[float, Field(ge=0)] = 0.8
    learning_rate: Annotated[float, Field(gt=0)] = 5e-5
    epochs: Annotated[float, Field(gt=0)] = 1.0
    batch_size: Annotated[int, Field(ge=1)] = 4
    max_length: Annotated[int, Field(ge=16)] = 2048
    gradient_checkpointing: bool = True
    """Recompute activations in the backward pass (TRL's default): less memory, a slower step."""


async def write_introspection(
    character: Character,
    model: Model,
    path: Path,
    settings: IntrospectionSettings,
    *,
    embed: Embed | None = None,
    seed: int = 0,
) -> list[IntrospectionSample]:
    """Write self-reflections and self-conversations that ``path`` does not hold yet; return all, filtered.

    Args:
        character: The character the student plays (staged in full while writing).
        model: The trained student (with its DPO adapter).
        path: The run's introspection file (JSON Lines); samples already there are kept.
        settings: How many of each to write.
        embed: Turns texts into unit vectors, to filter near-duplicates (``None``: exact duplicates only).
        seed: Seed of the generations.
    """
    done = {sample.id: sample for sample in read_records(path, IntrospectionSample)}
    frame = chat_messages(render_chat_frame(character, StageContext()))
    config = GenerateConfig(max_tokens=settings.max_tokens, temperature=settings.temperature)

    async def reflection(key: str, prompt: str, index: int) -> IntrospectionSample:
        output = await model.generate([*frame, ChatMessageUser(content=prompt)], config=_seeded(config, seed, index))
        messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": output.completion.strip()}]
        return IntrospectionSample(id=key, kind="reflection", messages=messages, kept=True, reason="")

    async def conversation(key: str, opener: str, index: int) -> IntrospectionSample:
        # Two copies of the character; each sees its own replies as its turns and the other's as the user's.
        said = [opener]
        for turn in range(settings.turns):
            mine = len(said) % 2  # which copy replies now: the other one spoke last
            history: list[ChatMessage] = [
                ChatMessageAssistant(content=text) if position % 2 == mine else ChatMessageUser(content=text)
                for position, text in enumerate(said)
            ]
            output = await model.generate([*frame, *history], config=_seeded(config, seed, index * 100 + turn))
            said.append(output.completion.strip())
        messages = [
            {"role": "user" if position % 2 == 0 else "assistant", "content": text}
            for position, text in enumerate(said)
        ]
        # A conversation must end on the assistant: the last reply of the copy trained on.
        if messages[-1]["role"] == "user":
            messages.pop()
        return IntrospectionSample(id=key, kind="interaction", messages=messages, kept=True, reason="")

    jobs = []
    for number, prompt in enumerate(REFLECTION_PROMPTS):
        for copy in range(settings.reflections_per_prompt):
            key = f"reflection-{prompt_id(prompt)}-{copy}"
            if key not in done:
                jobs.append(reflection(key, prompt, number * 1000 + copy))
    for number in range(settings.conversations):
        key = f"interaction-{number}"
        if key not in done:
            jobs.append(conversation(key, OPENERS[number % len(OPENERS)], number))
    for sample in await append_as_completed(path, jobs):
        done[sample.id] = sample
    return filter_samples(sorted(done.values(), key=lambda sample: sample.id), embed=embed)


def filter_samples(samples: Sequence[IntrospectionSample], *, embed: Embed | None = None) -> list[IntrospectionSample]:
    """Mark each sample kept or not, with the reason: too short, repetitive, the default assistant's voice, or a
    near-duplicate of one kept before it."""
    marked: list[IntrospectionSample] = []
    kept_texts: list[str] = []
    for sample in samples:
        replies = [m["content"] for m in sample.messages if m["role"] == "assistant"]
        reason = _problem(replies)
        if reason is None and embed is not None and kept_texts:
            import numpy as np

            vectors = np.asarray(embed([" ".join(replies), *kept_texts]), dtype=np.float32)
            if float((vectors[1:] @ vectors[0]).max()) >= NEAR_DUPLICATE:
                reason = "a near-duplicate of a sample kept before it"
        if reason is None:
            kept_texts.append(" ".join(replies))
        marked.append(sample.model_copy(update={"kept": reason is None, "reason": reason or "kept"}))
    return marked


def _problem(replies: Sequence[str]) -> str | None:
    if not replies:
        return "no reply"
    for reply in replies:
        words = _WORD.findall(reply.lower())
        if len(words) < MIN_WORDS:
            return f"a reply shorter than {MIN_WORDS} words"
        trigrams = Counter(zip(words, words[1:], words[2:], strict=False))
        if trigrams and trigrams.most_common(1)[0][1] >= 4:
            return "a reply that repeats itself"
        if _DEFAULT_VOICE.search(reply):
            return "a reply in the default assistant's voice"
    return None


def _seeded(config: GenerateConfig, seed: int, index: int) -> GenerateConfig:
    return config.merge(GenerateConfig(seed=seed + index))
