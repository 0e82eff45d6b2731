"""The user messages a character is trained on: its traits' probes, messages a model writes for each trait, and
any file the user supplies, deduplicated by meaning and split into training and held-out prompts.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from inspect_ai.model import GenerateConfig, Model

from characterlab.characters import Character, Trait
from characterlab.errors import DataFileError, FileProblem
from characterlab.training._records import TrainingPrompt, prompt_id

__all__ = ["DUPLICATE_SIMILARITY", "Embed", "build_prompts", "read_prompt_file", "write_trait_messages"]

DUPLICATE_SIMILARITY = 0.9
"""Two prompts whose embeddings have at least this cosine similarity are one prompt said twice."""

Embed = Callable[[Sequence[str]], Any]
"""Texts in, unit-length rows out (``EmbeddingModel.encode``): how near-duplicate prompts are found."""

_TOPICS = (
    "everyday life",
    "work",
    "science",
    "history",
    "art or music",
    "travel",
    "food",
    "technology",
    "money",
    "health",
    "family or friends",
    "nature",
    "a moral dilemma",
    "a practical problem",
    "a hobby",
    "the future",
)
_TONES = ("casual", "formal", "curious", "frustrated", "playful", "worried", "sceptical", "enthusiastic")
_LENGTHS = ("one short sentence", "two or three sentences", "a short paragraph")
_INSTRUCTION = (
    "Write one message that a user might send to an AI model, a message that gives the model a chance to show "
    "this trait without asking about the trait directly.\n\nThe trait: {description}\n\nTopic: {topic}. "
    "Tone: {tone}. Length: {length}.\n\nWrite only the user's message, with no quotes and no preamble."
)


async def write_trait_messages(generator: Model, trait: Trait, n: int, *, seed: int = 0) -> list[str]:
    """Ask a model for ``n`` user messages that draw a trait out, varied in topic, tone and length.

    Args:
        generator: The model that writes them.
        trait: The trait they should draw out.
        n: How many to ask for (empty replies are dropped, so fewer may come back).
        seed: Seed of the topic/tone/length draws and of the generations.
    """
    rng = random.Random(f"{seed}:{trait.id}")
    prompts = [
        _INSTRUCTION.format(
            description=trait.description.strip(),
            topic=rng.choice(_TOPICS),
            tone=rng.choice(_TONES),
            length=rng.choice(_LENGTHS),
        )
        for _ in range(n)
    ]
    outputs = await asyncio.gather(
        *(
            generator.generate(prompt, config=GenerateConfig(temperature=1.0, max_tokens=96, seed=seed + index))
            for index, prompt in enumerate(prompts)
        )
    )
    messages = [output.completion.strip().strip('"').strip() for output in outputs]
    return [message for message in messages if message]


def read_prompt_file(path: Path) -> list[str]:
    """Read user messages from a file: one per line (``.txt``), or JSON Lines with a ``prompt`` or ``text`` field.

    Raises:
        DataFileError: the file cannot be read, a JSON line has no text field, or the file holds no message.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DataFileError.single(path, f"cannot read the prompt file ({error})") from None
    messages: list[str] = []
    problems: list[FileProblem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if path.suffix != ".jsonl":
            messages.append(line.strip())
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            problems.append(FileProblem(f"not valid JSON: {error.msg}", line=number))
            continue
        value = record.get("prompt", record.get("text")) if isinstance(record, dict) else None
        if not isinstance(value, str) or not value.strip():
            problems.append(
                FileProblem("expected an object with the message as text in 'prompt' or 'text'", line=number)
            )
            continue
        messages.append(value.strip())
    if problems:
        raise DataFileError(path, problems)
    if not messages:
        raise DataFileError.single(path, "no messages; expected one per line (or JSON Lines with a 'prompt' field)")
    return messages


async def build_prompts(
    character: Character,
    *,
    generator: Model | None,
    per_trait: int,
    files: Sequence[Path] = (),
    held_out: float = 0.2,
    embed: Embed | None = None,
    seed: int = 0,
) -> list[TrainingPrompt]:
    """Gather the prompts of a training run, deduplicated, with a fraction held out from training.

    Args:
        character: The character; every trait's probes are used.
        generator: The model that writes ``per_trait`` more messages per trait (``None``: write none).
        per_trait: Messages to generate per trait.
        files: Files of user messages to add (see :func:`read_prompt_file`); they belong to no trait.
        held_out: Fraction of the prompts of each trait (and of the files) kept out of training, to measure it.
        embed: Turns texts into unit vectors, for removing near-duplicates (``None``: exact duplicates only).
        seed: Seed of the generations and of the split.

    Returns:
        The prompts in a stable order: by trait, probes first, then generated, then file prompts.
    """
    candidates: list[TrainingPrompt] = []
    for trait in character.traits:
        candidates += [TrainingPrompt(id=prompt_id(p), text=p, trait=trait.id, source="probe") for p in trait.probes]
    if generator is not None and per_trait > 0:
        written = await asyncio.gather(
            *(write_trait_messages(generator, trait, per_trait, seed=seed) for trait in character.traits)
        )
        for trait, messages in zip(character.traits, written, strict=True):
            candidates += [
                TrainingPrompt(id=prompt_id(m), text=m, trait=trait.id, source="generated") for m in messages
            ]
    for path in files:
        candidates += [TrainingPrompt(id=prompt_id(m), text=m, source="file") for m in read_prompt_file(path)]
    unique = _deduplicated(candidates, embed)
    return _split(unique, held_out, seed)


def _deduplicated(prompts: list[TrainingPrompt], embed: Embed | None) -> list[TrainingPrompt]:
    seen: dict[str, TrainingPrompt] = {}
    for prompt in prompts:
        seen.setdefault(prompt.id, prompt)
    unique = list(seen.values())
    if embed is None or len(unique) < 2:
        return unique
    import numpy as np

    vectors = np.asarray(embed([prompt.text for prompt in unique]), dtype=np.float32)
    similarity = vectors @ vectors.T
    kept: list[int] = []
    for index in range(len(unique)):
        # A probe the author wrote is never dropped for a generated message that says the same.
        if all(similarity[index, other] < DUPLICATE_SIMILARITY for other in kept):
            kept.append(index)
    return [unique[index] for index in kept]


def _split(prompts: list[TrainingPrompt], held_out: float, seed: int) -> list[TrainingPrompt]:
    if not 0.0 <= held_out < 1.0:
        raise ValueError(f"held_out must be in [0, 1); got {held_out}")
    groups: dict[str | None, list[TrainingPrompt]] = {}
    for prompt in prompts:
        groups.setdefault(prompt.trait, []).append(prompt)
    out: list[TrainingPrompt] = []
    for trait, group in groups.items():
        order = list(range(len(group)))
        random.Random(f"{seed}:split:{trait}").shuffle(order)
        # At least one prompt of each group stays in training, and one is held out once the group has two.
        count = min(len(group) - 1, max(1 if len(group) >= 2 and held_out > 0 else 0, round(held_out * len(group))))
        chosen = set(order[:count])
        out += [p.model_copy(update={"split": "held_out"}) if i in chosen else p for i, p in enumerate(group)]
    return out
