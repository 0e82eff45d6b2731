"""Directions from activations: the difference of means between two sets of responses, and projections on it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

__all__ = ["mean_difference", "projections"]

States = Mapping[int, torch.Tensor]
"""One response's state per decoder block (block index → ``(hidden_size,)``)."""


def mean_difference(positive: Sequence[States], negative: Sequence[States]) -> dict[int, torch.Tensor]:
    """Per block, the mean state of ``positive`` responses minus the mean state of ``negative`` ones.

    This is the persona-vector (and contrastive activation addition) direction: with responses that differ in
    one property and otherwise vary alike, what they share cancels and the property's direction remains.

    Args:
        positive: States of the responses that show the property.
        negative: States of the responses that show its opposite (or lack it).

    Returns:
        Block index → float32 direction, for the blocks every response has.

    Raises:
        ValueError: A side is empty, or the responses share no block.
    """
    if not positive or not negative:
        raise ValueError(
            f"a direction needs responses on both sides; got {len(positive)} positive and {len(negative)} negative"
        )
    layers = sorted(set.intersection(*(set(states) for states in [*positive, *negative])))
    if not layers:
        raise ValueError("the responses share no layer")
    return {
        layer: _mean([states[layer] for states in positive]) - _mean([states[layer] for states in negative])
        for layer in layers
    }


def projections(states: Sequence[States], vectors: Mapping[int, torch.Tensor]) -> list[dict[int, float]]:
    """How far along each block's direction every response lies: ``<h, v> / |v|`` (scalar projection).

    Args:
        states: One mapping per response (or per turn), as captured.
        vectors: Block index → direction; only blocks present in both count.

    Returns:
        One mapping per response: block index → projection (in the residual stream's units).
    """
    units = {layer: vector.to(torch.float32) / vector.to(torch.float32).norm() for layer, vector in vectors.items()}
    return [
        {layer: float(state[layer].to(torch.float32) @ unit) for layer, unit in units.items() if layer in state}
        for state in states
    ]


def _mean(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.stack([tensor.to(torch.float32) for tensor in tensors]).mean(dim=0)
