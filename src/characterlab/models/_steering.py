"""Steering hooks: add ``alpha * vector`` to the residual stream after chosen decoder blocks.

All vectors at one block are summed once, when the hooks are made, so a forward pays one addition per steered
block however many vectors there are. Vectors with ``positions="generated"`` are added only while the engine runs
a decode-step forward (it says so through ``is_decoding``), never during the prompt's forward.

:class:`SteeringHooks` steer every row of every forward while installed (the engine's own steering);
:class:`RowSteering` steers each row of one forward by its own request's vectors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from characterlab.models._decoder_blocks import block_hidden, replace_block_hidden, resolve_layer
from characterlab.models._types import SteeringVector

__all__ = ["RowSteering", "SteeringDeltas", "SteeringHooks", "steering_deltas"]


SteeringDeltas = tuple[dict[int, torch.Tensor], dict[int, torch.Tensor]]
"""What to add at each block (non-negative index) while reading the prompt, and while generating (float32)."""


def steering_deltas(
    vectors: Sequence[SteeringVector], *, num_blocks: int, hidden_size: int, device: torch.device
) -> SteeringDeltas:
    """Sum ``vectors`` per block, once for the prompt's forward and once for decode steps.

    Raises:
        ValueError: A vector has the wrong shape or names a block the model does not have.
    """
    always: dict[int, torch.Tensor] = {}
    generated: dict[int, torch.Tensor] = {}
    for vector in vectors:
        layer = resolve_layer(vector.layer, num_blocks)
        if tuple(vector.vector.shape) != (hidden_size,):
            raise ValueError(
                f"a steering vector for layer {vector.layer} has shape {tuple(vector.vector.shape)}; "
                f"this model needs ({hidden_size},)"
            )
        delta = vector.alpha * vector.vector.detach().to(device=device, dtype=torch.float32)
        target = always if vector.positions == "all" else generated
        target[layer] = target[layer] + delta if layer in target else delta
    decode = dict(always)
    for layer, delta in generated.items():
        decode[layer] = decode[layer] + delta if layer in decode else delta
    return always, decode


class SteeringHooks:
    """Forward hooks that steer a model; ``install`` adds them, ``remove`` takes them all off again."""

    def __init__(
        self,
        blocks: nn.ModuleList,
        vectors: Sequence[SteeringVector],
        *,
        hidden_size: int,
        dtype: torch.dtype,
        device: torch.device,
        is_decoding: Callable[[], bool],
    ) -> None:
        """Check the vectors and precompute the sum to add at each block.

        Args:
            blocks: The model's decoder blocks.
            vectors: What to add, where.
            hidden_size: Width of the residual stream; every vector must have this shape.
            dtype: The model's dtype; the sums are computed in float32 and then cast.
            device: The model's device.
            is_decoding: Tells whether the forward now running is a decode step (generated positions).

        Raises:
            ValueError: A vector has the wrong shape or names a block the model does not have.
        """
        self._blocks = blocks
        self._is_decoding = is_decoding
        always, decode = steering_deltas(vectors, num_blocks=len(blocks), hidden_size=hidden_size, device=device)
        self._prompt_delta = {layer: delta.to(dtype) for layer, delta in always.items()}
        self._decode_delta = {layer: delta.to(dtype) for layer, delta in decode.items()}
        self._handles: list[RemovableHandle] = []

    @property
    def layers(self) -> tuple[int, ...]:
        """The (non-negative) block indices that are steered."""
        return tuple(sorted(self._decode_delta))

    def install(self) -> None:
        """Register one forward hook per steered block."""
        if self._handles:
            raise RuntimeError("these steering hooks are already installed")
        for layer in self.layers:
            self._handles.append(self._blocks[layer].register_forward_hook(self._hook(layer)))

    def remove(self) -> None:
        """Remove every hook this object registered; safe to call twice."""
        while self._handles:
            self._handles.pop().remove()

    def _hook(self, layer: int) -> Callable[[nn.Module, Any, Any], Any]:
        prompt_delta = self._prompt_delta.get(layer)
        decode_delta = self._decode_delta[layer]

        def add_vector(module: nn.Module, args: Any, output: Any) -> Any:
            delta = decode_delta if self._is_decoding() else prompt_delta
            if delta is None:
                return None  # only "generated" vectors here, and this is the prompt's forward
            return replace_block_hidden(output, block_hidden(output) + delta)

        return add_vector


class RowSteering:
    """While entered, adds each row's own deltas at its blocks during one forward (a context manager).

    Args:
        blocks: The model's decoder blocks.
        rows: Per batch row, in batch order: what to add at which block (rows without steering: empty).
        dtype: The model's dtype.
    """

    def __init__(self, blocks: nn.ModuleList, rows: Sequence[dict[int, torch.Tensor]], *, dtype: torch.dtype) -> None:
        self._blocks = blocks
        self._deltas: dict[int, torch.Tensor] = {}
        for layer in sorted({layer for row in rows for layer in row}):
            some = next(row[layer] for row in rows if layer in row)
            stacked = torch.stack([row.get(layer, torch.zeros_like(some)) for row in rows])
            self._deltas[layer] = stacked.unsqueeze(1).to(dtype)  # (rows, 1, hidden): the same at every position
        self._handles: list[RemovableHandle] = []

    def __enter__(self) -> RowSteering:
        for layer, delta in self._deltas.items():
            self._handles.append(self._blocks[layer].register_forward_hook(_adder(delta)))
        return self

    def __exit__(self, *exc_info: object) -> None:
        while self._handles:
            self._handles.pop().remove()


def _adder(delta: torch.Tensor) -> Callable[[nn.Module, Any, Any], Any]:
    def add(module: nn.Module, args: Any, output: Any) -> Any:
        return replace_block_hidden(output, block_hidden(output) + delta)

    return add
