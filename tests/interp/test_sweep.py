"""Steering sweeps on a tiny model: all points in shared batches, the unsteered point is the plain model, and
over-steering shows in the capability check."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from characterlab.interp import (
    VectorProvenance,
    Vectors,
    default_capability_check,
    steering_sweep,
    sweep_page,
    sweep_table,
)
from characterlab.models import GenerationRequest, LocalEngine, load_model

QUESTIONS = ["Tell me a story.", "What is the capital of France?", "How are you today?"]


@pytest.fixture(scope="module")
def engine(tiny_llama: Path) -> LocalEngine:
    return LocalEngine(load_model(str(tiny_llama)))


def _planted() -> Vectors:
    direction = torch.randn(64, generator=torch.Generator().manual_seed(11))
    provenance = VectorProvenance(
        kind="trait", model="tiny", layers=[0, 1], trait="planted", n_positive=1, n_negative=1
    )
    return Vectors(provenance, {0: direction, 1: -direction})


def test_the_shipped_capability_check_is_well_formed() -> None:
    check = default_capability_check()
    assert len(check.passages) >= 5 and len(check.questions) >= 20
    assert all(0 <= answer < len(options) for _, options, answer in check.questions)


def test_a_sweep_scores_every_point_and_shows_over_steering(engine: LocalEngine) -> None:
    seen: list[tuple[str, str]] = []

    def words(question: str, reply: str) -> float | None:
        seen.append((question, reply))
        return float(len(reply.split())) if reply else None

    points = steering_sweep(
        engine, _planted(), questions=QUESTIONS, score=words, coefficients=(0.0, 300.0, -4.0), max_new_tokens=6
    )
    assert [(p.layer, p.alpha) for p in points] == [(0, -4.0), (0, 0.0), (0, 300.0), (1, -4.0), (1, 0.0), (1, 300.0)]
    assert len(seen) == 6 * len(QUESTIONS)
    # The unsteered point is the plain model.
    prompts = [tuple(engine.chat_prompt_ids([{"role": "user", "content": q}])) for q in QUESTIONS]
    plain = engine.generate([GenerationRequest(prompt_ids=p, max_new_tokens=6) for p in prompts])
    zero = next(p for p in points if (p.layer, p.alpha) == (0, 0.0))
    assert [reply for _, reply in zero.replies] == [r.text.strip() for r in plain]
    assert zero.accuracy.n == len(default_capability_check().questions)
    assert zero.trait.n + zero.trait.n_missing == len(QUESTIONS)
    # Pushed hard, the model reads ordinary text worse (a random tiny model reads it badly to begin with).
    hard = next(p for p in points if (p.layer, p.alpha) == (0, 300.0))
    assert hard.neutral_logprob < zero.neutral_logprob
    assert hard.replies != zero.replies
    table = sweep_table(points)
    assert list(table["alpha"]) == [-4.0, 0.0, 300.0] * 2 and (table["accuracy_n"] == 20).all()
    page = sweep_page(points, _planted(), scorer="words per reply")
    assert page.count("<svg") == 3 and "n=20" in page and "trait: planted" in page
