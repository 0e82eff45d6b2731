"""Probe-scored best-of-N: sample N replies, score each from the activations captured while it was generated,
keep the best.

A probe costs almost nothing at selection time (the states come with the reply; scoring is one dot product), where
a text judge reads every candidate. Whether the probe picks *better* replies is checked by a separate scorer (a
judge, an embedding contrast, NLI): for each N, the checking score of the probe's pick against that of a random
pick (the mean over the N), paired by question. A probe that is being gamed (high scores, no better replies) shows
as no gain.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from characterlab.analysis import Estimate, bootstrap_mean
from characterlab.interp._extraction import require_chat_model
from characterlab.interp._probe_data import ProbeData
from characterlab.models import ActivationSpec, GenerationRequest, LocalEngine

__all__ = ["BestOfN", "BestOfNPoint", "LinearProbe", "StateScorer", "best_of_n", "fit_probe"]


class StateScorer(Protocol):
    """Scores a reply from its states (block index → mean state over its tokens); higher is better."""

    @property
    def layer(self) -> int:
        """The block whose state it reads."""
        ...

    def score(self, states: Mapping[int, torch.Tensor]) -> float:
        """The reply's score."""
        ...


@dataclass(frozen=True)
class LinearProbe:
    """A fitted logistic-regression probe at one block: the probability that a reply is ``positive``."""

    layer: int
    positive: str
    pipeline: Any
    """The fitted scikit-learn pipeline (scaler and logistic regression)."""

    def score(self, states: Mapping[int, torch.Tensor]) -> float:
        """P(positive) for one reply's states."""
        row = states[self.layer].to(torch.float32).numpy().reshape(1, -1)
        column = list(self.pipeline.classes_).index(self.positive)
        return float(self.pipeline.predict_proba(row)[0, column])


def fit_probe(data: ProbeData, layer: int, positive: str) -> LinearProbe:
    """Fit a probe on all of ``data`` at ``layer``: ``positive`` against every other label.

    Raises:
        ValueError: ``positive`` is not among the labels, or it is the only one.
    """
    labels = np.asarray([label == positive for label in data.labels])
    if labels.all() or not labels.any():
        raise ValueError(f"the label {positive!r} must be some of the labels, not all or none: {set(data.labels)}")
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    named = np.where(labels, positive, "other")
    pipeline.fit(np.asarray(data.features[layer], dtype=np.float64), named)
    return LinearProbe(layer=layer, positive=positive, pipeline=pipeline)


@dataclass(frozen=True)
class BestOfNPoint:
    """What picking by the probe gains at one N."""

    n: int
    probe_pick: Estimate
    """The checking score of the probe's pick, over questions."""
    random_pick: Estimate
    """The expected checking score of a random pick (the mean over the N candidates), over questions."""
    gain: Estimate
    """Probe pick minus random pick, paired by question (cluster bootstrap interval)."""


@dataclass(frozen=True)
class BestOfN:
    """A best-of-N run: the curve over N, and what each way of scoring cost per candidate."""

    points: list[BestOfNPoint]
    probe_seconds: float
    """Seconds per candidate to score by the probe (from states the generation captured anyway)."""
    check_seconds: float
    """Seconds per candidate for the checking scorer: what a text judge would cost to pick with."""
    candidates: list[list[str]]
    """Every question's candidates, in sampling order."""


def best_of_n(
    engine: LocalEngine,
    messages: Sequence[list[dict[str, str]]],
    probe: StateScorer,
    *,
    check: Callable[[int, str], float | None],
    ns: Sequence[int] = (1, 2, 4, 8),
    temperature: float = 1.0,
    max_new_tokens: int = 64,
    seed: int = 0,
) -> BestOfN:
    """Sample ``max(ns)`` replies per conversation once; for each N, pick by the probe among the first N.

    Args:
        engine: A local chat model.
        messages: The conversations to reply to (chat messages, e.g. a staged character's frame and a question).
        probe: Scores a reply from its states at ``probe.layer``.
        check: ``check(conversation_index, reply)``: the separate score the picks are judged by (``None``:
            missing).
        ns: The N values; the first N samples are shared, so a larger N only adds candidates.
        temperature: Sampling temperature.
        max_new_tokens: Length of each reply.
        seed: Seed of the samples (candidate ``k`` of conversation ``i`` uses ``seed + k``).

    Raises:
        ValueError: An N below 1, or no conversations.
    """
    if not messages or min(ns) < 1:
        raise ValueError("best-of-N needs conversations and every N at least 1")
    require_chat_model(engine)
    most = max(ns)
    spec = ActivationSpec(layers=(probe.layer,), reduction="mean_response")
    prompts = [tuple(engine.chat_prompt_ids(conversation)) for conversation in messages]
    requests = [
        GenerationRequest(
            prompt_ids=prompt, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed + k, activations=spec
        )
        for prompt in prompts
        for k in range(most)
    ]
    results = engine.generate(requests)
    started = time.perf_counter()
    probe_scores = np.array([probe.score(result.activations) for result in results]).reshape(len(prompts), most)
    probe_seconds = (time.perf_counter() - started) / len(results)
    texts = [[results[i * most + k].text.strip() for k in range(most)] for i in range(len(prompts))]
    started = time.perf_counter()
    checked = np.array(
        [[_number(check(i, text)) for text in candidates] for i, candidates in enumerate(texts)], dtype=np.float64
    )
    check_seconds = (time.perf_counter() - started) / len(results)
    points = []
    for n in sorted(set(ns)):
        picks = np.argmax(probe_scores[:, :n], axis=1)
        picked = checked[np.arange(len(prompts)), picks]
        random = np.nanmean(checked[:, :n], axis=1)
        questions = list(range(len(prompts)))
        points.append(
            BestOfNPoint(
                n=n,
                probe_pick=bootstrap_mean(picked, seed=seed),
                random_pick=bootstrap_mean(random, seed=seed),
                gain=bootstrap_mean(picked - random, clusters=questions, seed=seed),
            )
        )
    return BestOfN(points=points, probe_seconds=probe_seconds, check_seconds=check_seconds, candidates=texts)


def _number(value: float | None) -> float:
    return float("nan") if value is None else float(value)
