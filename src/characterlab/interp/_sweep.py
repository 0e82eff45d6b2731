"""Steering sweeps: how a trait's score moves with the steering coefficient, beside what the steering costs.

Every (layer, coefficient) point generates the same questions steered along the direction (the requests carry
their own steering, so all points share batches), scores each reply for the trait, and runs a capability check
under the same steering: the mean log-likelihood per token of neutral passages, and the accuracy on general-
knowledge questions scored by option log-likelihood. A trait score that keeps rising while both fall is
over-steering: the model is being broken, not moved.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Literal

from characterlab.analysis import Estimate, bootstrap_mean
from characterlab.interp._extraction import require_chat_model
from characterlab.interp._vector_file import Vectors
from characterlab.models import GenerationRequest, LocalEngine

__all__ = ["CapabilityCheck", "SweepPoint", "default_capability_check", "steering_sweep"]

Scorer = Callable[[str, str], float | None]
"""``score(question, reply)``: how strongly the reply shows the trait (``None``: cannot say, counted missing)."""


@dataclass(frozen=True)
class CapabilityCheck:
    """Neutral passages and multiple-choice questions (with the index of the right option)."""

    passages: tuple[str, ...]
    questions: tuple[tuple[str, tuple[str, ...], int], ...]


@dataclass(frozen=True)
class SweepPoint:
    """One (layer, coefficient) of a sweep."""

    layer: int
    alpha: float
    trait: Estimate
    """The trait score over the replies, with its bootstrap interval (clustered by question)."""
    neutral_logprob: float
    """Mean log-probability per token of the neutral passages (higher is better; 0 is perfect)."""
    neutral_n: int
    """How many passages that mean is over."""
    accuracy: Estimate
    """Accuracy on the capability questions, with its bootstrap interval."""
    replies: tuple[tuple[str, str], ...]
    """Each question with its reply, for reading."""


def default_capability_check() -> CapabilityCheck:
    """The capability check shipped with characterlab (6 neutral passages, 20 general-knowledge questions)."""
    text = resources.files("characterlab.interp").joinpath("data/capability.json").read_text(encoding="utf-8")
    data = json.loads(text)
    return CapabilityCheck(
        passages=tuple(data["passages"]),
        questions=tuple((q["question"], tuple(q["options"]), int(q["answer"])) for q in data["questions"]),
    )


def steering_sweep(
    engine: LocalEngine,
    vectors: Vectors,
    *,
    questions: Sequence[str],
    score: Scorer,
    layers: Sequence[int] | None = None,
    coefficients: Sequence[float] = (-2.0, -1.0, 0.0, 1.0, 2.0),
    positions: Literal["all", "generated"] = "all",
    capability: CapabilityCheck | None = None,
    max_new_tokens: int = 64,
    seed: int = 0,
) -> list[SweepPoint]:
    """Steer along ``vectors`` at each layer and coefficient; score the trait and check capability.

    Args:
        engine: The local model the vectors belong to (with a chat template).
        vectors: The directions, used as found: a coefficient of 1 moves a state by the whole difference between
            the two sides' means.
        questions: What to ask at every point.
        score: The trait scorer (a judge, an embedding contrast, a programmatic scorer...).
        layers: Where to steer, one layer at a time (default: every layer the file has).
        coefficients: The coefficients; include 0 for the unsteered baseline.
        positions: ``all`` (prompt and reply) or ``generated`` (the reply only).
        capability: The check to run at every point (default: :func:`default_capability_check`).
        max_new_tokens: Length of each reply.
        seed: Seed of the bootstrap intervals.

    Returns:
        One point per (layer, coefficient), layers in the order given, coefficients ascending.
    """
    require_chat_model(engine)
    check = capability or default_capability_check()
    chosen = list(vectors.provenance.layers if layers is None else layers)
    points = [(layer, float(alpha)) for layer in chosen for alpha in sorted(coefficients)]
    prompts = [tuple(engine.chat_prompt_ids([{"role": "user", "content": question}])) for question in questions]
    requests = [
        GenerationRequest(
            prompt_ids=prompt,
            max_new_tokens=max_new_tokens,
            steering=tuple(vectors.steering(alpha, layers=[layer], positions=positions)),
        )
        for layer, alpha in points
        for prompt in prompts
    ]
    results = engine.generate(requests)
    swept = []
    for index, (layer, alpha) in enumerate(points):
        replies = [result.text.strip() for result in results[index * len(prompts) : (index + 1) * len(prompts)]]
        scores = [score(question, reply) for question, reply in zip(questions, replies, strict=True)]
        with engine.steering(vectors.steering(alpha, layers=[layer], positions=positions)):
            neutral, correct = _capability(engine, check)
        swept.append(
            SweepPoint(
                layer=layer,
                alpha=alpha,
                trait=bootstrap_mean(
                    [math.nan if value is None else value for value in scores], clusters=list(questions), seed=seed
                ),
                neutral_logprob=neutral,
                neutral_n=len(check.passages),
                accuracy=bootstrap_mean(correct, seed=seed),
                replies=tuple(zip(questions, replies, strict=True)),
            )
        )
    return swept


def _capability(engine: LocalEngine, check: CapabilityCheck) -> tuple[float, list[float]]:
    """Mean log-probability per token of the passages, and 1/0 per question answered right."""
    passages = engine.score_options_batch([("", [passage]) for passage in check.passages])
    per_token = sum(s.logprobs[0] for s in passages) / sum(s.token_counts[0] for s in passages)
    items = [
        (
            engine.chat_prompt_text([{"role": "user", "content": f"{question} Answer with the right option."}]),
            list(options),
        )
        for question, options, _ in check.questions
    ]
    scored = engine.score_options_batch(items)
    correct = [float(s.best == answer) for s, (_, _, answer) in zip(scored, check.questions, strict=True)]
    return per_token, correct
