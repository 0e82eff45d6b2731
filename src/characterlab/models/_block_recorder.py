"""Recording decoder-block outputs during a forward pass, for activation capture.

The hooks only keep a reference to each block's output of the latest forward; the engine, which knows which
batch row is which request and where the padding is, slices out what each request asked for right after the
forward. So a capture costs no copy beyond the slices that are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from characterlab.models._decoder_blocks import block_hidden

__all__ = ["BlockRecorder", "to_stored"]


class BlockRecorder:
    """While entered, remembers the latest output of each of the given blocks (non-negative indices)."""

    def __init__(self, blocks: nn.ModuleList, layers: Iterable[int]) -> None:
        """Prepare to record the blocks at ``layers`` (already resolved to non-negative indices)."""
        self._blocks = blocks
        self._layers = tuple(sorted(set(layers)))
        self._handles: list[RemovableHandle] = []
        self.outputs: dict[int, torch.Tensor] = {}
        """Block index → hidden states ``(batch, positions, hidden)`` of the latest forward."""

    def __enter__(self) -> BlockRecorder:
        for layer in self._layers:
            self._handles.append(self._blocks[layer].register_forward_hook(self._hook(layer)))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        while self._handles:
            self._handles.pop().remove()
        self.outputs.clear()

    def _hook(self, layer: int) -> Callable[[nn.Module, Any, Any], None]:
        def record(module: nn.Module, args: Any, output: Any) -> None:
            self.outputs[layer] = block_hidden(output)

        return record


def to_stored(hidden: torch.Tensor) -> torch.Tensor:
    """A detached float32 CPU copy, so kept activations hold no GPU memory and no reference to a batch tensor."""
    return hidden.detach().to(device="cpu", dtype=torch.float32, copy=True)
