"""Finding a causal LM's decoder blocks and reading or replacing what a block returns.

Activation capture and steering both hook the output of a decoder block, i.e. the residual stream after it.
Models keep their blocks in different places (``model.layers`` for Llama and Gemma, ``transformer.h`` for
GPT-2, one level deeper under a PEFT wrapper), and blocks return either a tensor (transformers 5) or a tuple
whose first element is the hidden states (older code and some architectures); these helpers hide both.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["block_hidden", "decoder_blocks", "replace_block_hidden", "resolve_layer"]

_BLOCK_LIST_NAMES = ("layers", "h", "blocks")


def decoder_blocks(model: nn.Module) -> nn.ModuleList:
    """The list of decoder blocks of a transformers causal LM, also when wrapped by PEFT.

    Raises:
        TypeError: No block list with ``num_hidden_layers`` entries was found.
    """
    get_base_model = getattr(model, "get_base_model", None)
    base: nn.Module = get_base_model() if callable(get_base_model) else model
    config: Any = base.config  # a transformers config; nn.Module's typing cannot know that
    num_layers = int(config.get_text_config().num_hidden_layers)
    candidates: list[nn.Module] = []
    get_decoder = getattr(base, "get_decoder", None)
    if callable(get_decoder):
        decoder = get_decoder()
        if isinstance(decoder, nn.Module):
            candidates.append(decoder)
    candidates.append(base)
    for candidate in candidates:
        for name in _BLOCK_LIST_NAMES:
            blocks = getattr(candidate, name, None)
            if isinstance(blocks, nn.ModuleList) and len(blocks) == num_layers:
                return blocks
    # Unknown layout: the only module list as long as the model is deep is the block list.
    for _, module in base.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == num_layers:
            return module
    raise TypeError(f"cannot find the {num_layers} decoder blocks of {type(base).__name__}")


def resolve_layer(layer: int, num_layers: int) -> int:
    """A block index in ``[0, num_layers)``; negative indices count from the end (-1 is the last block).

    Raises:
        ValueError: The index is out of range.
    """
    resolved = layer + num_layers if layer < 0 else layer
    if not 0 <= resolved < num_layers:
        raise ValueError(f"layer {layer} is out of range for a model with {num_layers} decoder blocks")
    return resolved


def block_hidden(output: Any) -> torch.Tensor:
    """The hidden states a decoder block returned, shape ``(batch, positions, hidden)``."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, tuple) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise TypeError(f"a decoder block returned {type(output).__name__}; expected a tensor or a tuple")


def replace_block_hidden(output: Any, hidden: torch.Tensor) -> Any:
    """``output`` with its hidden states replaced by ``hidden``, in the same form (tensor or tuple)."""
    if isinstance(output, torch.Tensor):
        return hidden
    return (hidden, *output[1:])
