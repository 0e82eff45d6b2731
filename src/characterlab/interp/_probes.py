"""Linear probes on activations: where does a property (which character speaks, in or out of character, a judge
score above a threshold) become linearly decodable?

Each layer gets a logistic-regression head (scikit-learn), scored on held-out data only: the folds keep every
prompt's responses together, so a probe is never tested on a prompt it was trained on (it would otherwise learn
the prompt, not the property). The interval of each AUROC comes from a cluster bootstrap over prompts, and the
same probe on shuffled labels is reported beside it: it should sit near 0.5.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

__all__ = ["LayerProbe", "probe_layers"]


@dataclass(frozen=True)
class LayerProbe:
    """How well one layer's activations predict the labels, on prompts the probe never saw."""

    layer: int
    auroc: float
    """Held-out AUROC (one-vs-rest, macro-averaged, with more than two classes)."""
    low: float
    high: float
    """95% cluster-bootstrap interval of ``auroc`` (resampling prompts)."""
    shuffled: float
    """The same probe's held-out AUROC with the labels shuffled: the chance level it should beat."""
    n: int
    """Responses scored."""
    groups: int
    """Distinct prompts."""


def probe_layers(
    features: Mapping[int, torch.Tensor | np.ndarray],
    labels: Sequence[int | str],
    groups: Sequence[int | str],
    *,
    folds: int = 5,
    bootstrap: int = 1000,
    seed: int = 0,
) -> list[LayerProbe]:
    """Fit and score a logistic-regression probe on every layer's activations.

    Args:
        features: Block index → ``(responses, hidden_size)`` activations, rows in the order of ``labels``.
        labels: What each response is (two classes, or more for e.g. which character speaks).
        groups: Which prompt each response answered; folds and the bootstrap keep a prompt's responses together.
        folds: Cross-validation folds (at most the number of prompts).
        bootstrap: Bootstrap resamples for the interval.
        seed: Seed of the shuffling and the bootstrap.

    Returns:
        One :class:`LayerProbe` per layer, in layer order.

    Raises:
        ValueError: Fewer than two classes or two prompts, or features that do not match the labels.
    """
    label_array = np.asarray([str(label) for label in labels])
    group_array = np.asarray([str(group) for group in groups])
    classes = np.unique(label_array)
    prompts = np.unique(group_array)
    if len(classes) < 2:
        raise ValueError(f"a probe needs at least two classes of labels; got {list(classes)}")
    if len(prompts) < 2:
        raise ValueError("a probe held out by prompt needs responses to at least two prompts")
    if len(group_array) != len(label_array):
        raise ValueError(f"{len(label_array)} labels but {len(group_array)} groups")
    rng = np.random.default_rng(seed)
    shuffled_labels = rng.permutation(label_array)
    results = []
    for layer in sorted(features):
        matrix = np.asarray(features[layer], dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[0] != len(label_array):
            raise ValueError(
                f"layer {layer}: features have shape {matrix.shape}; expected ({len(label_array)}, hidden_size)"
            )
        scores = _held_out_scores(matrix, label_array, group_array, classes, folds)
        shuffled_scores = _held_out_scores(matrix, shuffled_labels, group_array, classes, folds)
        auroc = _auroc(label_array, scores, classes)
        low, high = _bootstrap_interval(label_array, scores, group_array, classes, bootstrap, rng)
        results.append(
            LayerProbe(
                layer=layer,
                auroc=auroc,
                low=low,
                high=high,
                shuffled=_auroc(shuffled_labels, shuffled_scores, classes),
                n=len(label_array),
                groups=len(prompts),
            )
        )
    return results


def _held_out_scores(
    matrix: np.ndarray, labels: np.ndarray, groups: np.ndarray, classes: np.ndarray, folds: int
) -> np.ndarray:
    """Out-of-fold class probabilities, ``(responses, classes)``, with prompts kept within one fold."""
    scores = np.zeros((len(labels), len(classes)))
    splitter = GroupKFold(n_splits=min(folds, len(np.unique(groups))))
    for train, test in splitter.split(matrix, labels, groups):
        present = np.unique(labels[train])
        if len(present) < 2:
            scores[test] = 1.0 / len(classes)  # a fold that saw one class can only guess
            continue
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
        probe.fit(matrix[train], labels[train])
        predicted = probe.predict_proba(matrix[test])
        for column, label in enumerate(probe.classes_):
            scores[test, int(np.flatnonzero(classes == label)[0])] = predicted[:, column]
    return scores


def _auroc(labels: np.ndarray, scores: np.ndarray, classes: np.ndarray) -> float:
    if len(np.unique(labels)) < 2:
        return float("nan")
    if len(classes) == 2:
        return float(roc_auc_score(labels == classes[1], scores[:, 1]))
    present = np.isin(classes, np.unique(labels))
    normalised = scores[:, present] / scores[:, present].sum(axis=1, keepdims=True)
    return float(roc_auc_score(labels, normalised, multi_class="ovr", labels=classes[present]))


def _bootstrap_interval(
    labels: np.ndarray,
    scores: np.ndarray,
    groups: np.ndarray,
    classes: np.ndarray,
    resamples: int,
    rng: np.random.Generator,
) -> tuple[float, float]:
    prompts = np.unique(groups)
    rows = {prompt: np.flatnonzero(groups == prompt) for prompt in prompts}
    values = []
    for _ in range(resamples):
        chosen = np.concatenate([rows[prompt] for prompt in rng.choice(prompts, size=len(prompts))])
        value = _auroc(labels[chosen], scores[chosen], classes)
        if not np.isnan(value):
            values.append(value)
    if not values:
        return float("nan"), float("nan")
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)
