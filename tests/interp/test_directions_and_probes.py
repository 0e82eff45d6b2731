"""Directions and probes on synthetic activations whose true direction is planted, so the answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from characterlab.interp import mean_difference, probe_layers, projections

HIDDEN = 32


def _planted(count: int, seed: int, strength: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``count`` states per side: noise plus (or minus) ``strength`` times a known unit direction."""
    generator = torch.Generator().manual_seed(seed)
    direction = torch.randn(HIDDEN, generator=generator)
    direction = direction / direction.norm()
    positive = torch.randn(count, HIDDEN, generator=generator) + strength * direction
    negative = torch.randn(count, HIDDEN, generator=generator) - strength * direction
    return direction, positive, negative


def test_the_mean_difference_finds_a_planted_direction() -> None:
    direction, positive, negative = _planted(200, seed=1)
    found = mean_difference([{3: row} for row in positive], [{3: row} for row in negative])
    assert set(found) == {3}
    assert float(torch.nn.functional.cosine_similarity(found[3], direction, dim=0)) > 0.9
    # Pure noise on both sides gives no such direction.
    noise = torch.randn(400, HIDDEN, generator=torch.Generator().manual_seed(2))
    unrelated = mean_difference([{3: row} for row in noise[:200]], [{3: row} for row in noise[200:]])
    assert abs(float(torch.nn.functional.cosine_similarity(unrelated[3], direction, dim=0))) < 0.5


def test_a_direction_needs_both_sides_and_a_shared_layer() -> None:
    with pytest.raises(ValueError, match="both sides"):
        mean_difference([], [{0: torch.zeros(HIDDEN)}])
    with pytest.raises(ValueError, match="no layer"):
        mean_difference([{0: torch.zeros(HIDDEN)}], [{1: torch.zeros(HIDDEN)}])


def test_projections_are_scalar_projections_on_each_layer() -> None:
    vector = torch.tensor([3.0, 4.0])  # length 5
    projected = projections(
        [{0: torch.tensor([3.0, 4.0]), 1: torch.ones(2)}, {0: torch.tensor([-6.0, -8.0])}], {0: vector}
    )
    assert projected == [{0: pytest.approx(5.0)}, {0: pytest.approx(-10.0)}]


def _probe_data(seed: int) -> tuple[dict[int, np.ndarray], list[int], list[str]]:
    """Layer 0 carries the label (a planted direction); layer 1 is noise. Four responses per prompt."""
    _, positive, negative = _planted(60, seed=seed, strength=1.5)
    signal = torch.cat([positive, negative]).numpy()
    noise = np.random.default_rng(seed).normal(size=signal.shape)
    labels = [1] * 60 + [0] * 60
    groups = [f"p{index // 4}" for index in range(60)] * 2
    return {0: signal, 1: noise}, labels, groups


def test_a_probe_decodes_a_planted_label_and_not_noise_or_shuffled_labels() -> None:
    features, labels, groups = _probe_data(seed=3)
    signal, noise = probe_layers(features, labels, groups, bootstrap=200)
    assert (signal.layer, noise.layer) == (0, 1)
    assert signal.auroc > 0.9 and signal.low <= signal.auroc <= signal.high
    assert signal.n == 120 and signal.groups == 15
    assert abs(noise.auroc - 0.5) < 0.15
    assert abs(signal.shuffled - 0.5) < 0.15  # the control: the same probe on shuffled labels is at chance


def test_a_probe_tells_several_characters_apart() -> None:
    generator = torch.Generator().manual_seed(4)
    centres = torch.randn(3, HIDDEN, generator=generator) * 2
    rows = torch.cat([centre + torch.randn(30, HIDDEN, generator=generator) for centre in centres]).numpy()
    labels = ["ada"] * 30 + ["bo"] * 30 + ["cy"] * 30
    groups = [f"q{index % 10}" for index in range(90)]
    [probe] = probe_layers({5: rows}, labels, groups, bootstrap=100)
    assert probe.auroc > 0.9 and abs(probe.shuffled - 0.5) < 0.15


def test_bad_probe_input_is_named() -> None:
    features = {0: np.zeros((4, HIDDEN))}
    with pytest.raises(ValueError, match="two classes"):
        probe_layers(features, [1, 1, 1, 1], ["a", "b", "a", "b"])
    with pytest.raises(ValueError, match="two prompts"):
        probe_layers(features, [0, 1, 0, 1], ["a"] * 4)
    with pytest.raises(ValueError, match="layer 0: features have shape"):
        probe_layers({0: np.zeros((3, HIDDEN))}, [0, 1, 0, 1], ["a", "b", "a", "b"])
