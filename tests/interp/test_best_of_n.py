"""Probe-scored best-of-N on a tiny model: picking logic, the gain against a random pick, and a fitted probe."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from characterlab.interp import ProbeData, best_of_n, fit_probe
from characterlab.models import ActivationSpec, GenerationRequest, LocalEngine, load_model

CONVERSATIONS = [[{"role": "user", "content": text}] for text in ("Tell me a story.", "Hello!", "What is 2 + 2?")]


@pytest.fixture(scope="module")
def engine(tiny_llama: Path) -> LocalEngine:
    return LocalEngine(load_model(str(tiny_llama)))


@dataclass
class _Oracle:
    """A probe that knows each candidate's checking score (looked up by its state), or its opposite."""

    layer: int
    known: dict[float, float]
    sign: float = 1.0

    def score(self, states: Mapping[int, torch.Tensor]) -> float:
        return self.sign * self.known[round(float(states[self.layer].sum()), 3)]


def _length(index: int, reply: str) -> float | None:
    return float(len(reply))


def _oracle(engine: LocalEngine, most: int, sign: float) -> _Oracle:
    # The same seeded samples best_of_n draws (a seeded sample does not depend on its batch).
    spec = ActivationSpec(layers=(1,), reduction="mean_response")
    requests = [
        GenerationRequest(
            prompt_ids=tuple(engine.chat_prompt_ids(c)), max_new_tokens=8, temperature=1.0, seed=k, activations=spec
        )
        for c in CONVERSATIONS
        for k in range(most)
    ]
    known = {round(float(r.activations[1].sum()), 3): float(len(r.text.strip())) for r in engine.generate(requests)}
    return _Oracle(layer=1, known=known, sign=sign)


def test_a_probe_that_knows_the_better_reply_gains_and_its_opposite_loses(engine: LocalEngine) -> None:
    good = best_of_n(engine, CONVERSATIONS, _oracle(engine, 4, 1.0), check=_length, ns=(1, 2, 4), max_new_tokens=8)
    assert [point.n for point in good.points] == [1, 2, 4]
    one, _, four = good.points
    assert one.gain.mean == 0.0  # one candidate: nothing to choose
    assert four.gain.mean > 0 and four.probe_pick.mean >= four.random_pick.mean
    assert four.gain.n == len(CONVERSATIONS) and len(good.candidates[0]) == 4
    bad = best_of_n(engine, CONVERSATIONS, _oracle(engine, 4, -1.0), check=_length, ns=(4,), max_new_tokens=8)
    assert bad.points[0].gain.mean < 0  # a gamed or wrong probe shows as a loss against a random pick
    assert good.probe_seconds >= 0 and good.check_seconds >= 0


def test_a_fitted_probe_scores_the_positive_side_high() -> None:
    rng = np.random.default_rng(0)
    direction = rng.normal(size=16)
    positive = rng.normal(size=(40, 16)) + 2 * direction
    negative = rng.normal(size=(40, 16)) - 2 * direction
    data = ProbeData(
        features={3: np.concatenate([positive, negative])},
        labels=["in"] * 40 + ["out"] * 40,
        groups=[str(i % 10) for i in range(80)],
        texts=[""] * 80,
    )
    probe = fit_probe(data, 3, "in")
    assert probe.score({3: torch.tensor(2 * direction)}) > 0.9
    assert probe.score({3: torch.tensor(-2 * direction)}) < 0.1
    with pytest.raises(ValueError, match="some of the labels"):
        fit_probe(data, 3, "nobody")
