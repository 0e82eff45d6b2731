"""Relative representations: two spaces that differ by a rotation and a scale arrange the same items alike."""

from __future__ import annotations

import numpy as np
import pytest

from characterlab.interp import compare_arrangements, relative_representation


def test_a_rotated_rescaled_model_arranges_items_as_the_first_does() -> None:
    rng = np.random.default_rng(0)
    items, anchors = rng.normal(size=(30, 16)), rng.normal(size=(8, 16))
    rotation, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    # The second "model": another basis and scale, a little noise.
    other_items = 3.0 * items @ rotation + 0.01 * rng.normal(size=items.shape)
    other_anchors = 3.0 * anchors @ rotation
    first = relative_representation(items, anchors)
    second = relative_representation(other_items, other_anchors)
    assert first.shape == (30, 8)
    match = compare_arrangements(first, second)
    assert match.similarity > 0.99 and match.retrieval == 1.0 and match.structure > 0.99 and match.n == 30
    # Raw states are not comparable across the two bases; an unrelated model's arrangement does not match.
    assert float(np.mean(np.sum(items * other_items, axis=1))) < 0.5 * float(np.mean(np.sum(items * items, axis=1)))
    unrelated = relative_representation(rng.normal(size=(30, 16)), rng.normal(size=(8, 16)))
    assert compare_arrangements(first, unrelated).retrieval < 0.3


def test_shapes_must_match() -> None:
    with pytest.raises(ValueError, match="same width"):
        relative_representation(np.ones((3, 4)), np.ones((2, 5)))
    with pytest.raises(ValueError, match="same items"):
        compare_arrangements(np.ones((3, 4)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="all zeros"):
        relative_representation(np.zeros((1, 4)), np.ones((2, 4)))
