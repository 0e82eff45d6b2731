"""Comparing how two models arrange the same things, with relative representations (Moschella et al. 2022).

Two models' activation spaces differ by more than a rotation (width, scale, basis), so their states cannot be
compared directly. Represent each state instead by its cosine similarity to the same anchors (states of shared
anchor prompts, read by that model): those coordinates mean the same thing in both models, and two models that
arrange characters alike give alike relative representations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["ArrangementMatch", "compare_arrangements", "relative_representation"]


@dataclass(frozen=True)
class ArrangementMatch:
    """How alike two models' relative representations of the same items are."""

    similarity: float
    """Mean cosine similarity between each item's two relative representations (1: identical arrangement)."""
    retrieval: float
    """Share of items whose nearest relative representation in the other model is their own (chance: 1/n)."""
    structure: float
    """Pearson correlation of the two models' item-by-item similarity matrices (upper triangles): do they put
    the same items close together?"""
    n: int


def relative_representation(states: npt.ArrayLike, anchors: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Each state's cosine similarity to each anchor: ``(items, anchors)``.

    Args:
        states: ``(items, hidden_size)`` states of one model.
        anchors: ``(anchors, hidden_size)`` states of the anchor prompts, read by the same model.

    Raises:
        ValueError: The widths differ or a state is all zeros.
    """
    items = np.asarray(states, dtype=np.float64)
    points = np.asarray(anchors, dtype=np.float64)
    if items.ndim != 2 or points.ndim != 2 or items.shape[1] != points.shape[1]:
        raise ValueError(f"states {items.shape} and anchors {points.shape} must be 2-D with the same width")
    return np.asarray(_normalised(items) @ _normalised(points).T, dtype=np.float64)


def compare_arrangements(first: npt.ArrayLike, second: npt.ArrayLike) -> ArrangementMatch:
    """Compare two models' relative representations of the same items (rows in the same order).

    Raises:
        ValueError: The shapes differ, or fewer than two items.
    """
    a = np.asarray(first, dtype=np.float64)
    b = np.asarray(second, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2 or a.shape[0] < 2:
        raise ValueError(f"relative representations of the same items are needed; got {a.shape} and {b.shape}")
    a_unit, b_unit = _normalised(a), _normalised(b)
    cross = a_unit @ b_unit.T
    upper = np.triu_indices(a.shape[0], k=1)
    structure = float(np.corrcoef((a_unit @ a_unit.T)[upper], (b_unit @ b_unit.T)[upper])[0, 1])
    return ArrangementMatch(
        similarity=float(np.mean(np.diag(cross))),
        retrieval=float(np.mean(np.argmax(cross, axis=1) == np.arange(a.shape[0]))),
        structure=structure,
        n=a.shape[0],
    )


def _normalised(matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("a state of all zeros has no direction")
    return np.asarray(matrix / norms, dtype=np.float64)
