"""Steering files: a safetensors file of vectors, one per decoder block, to add to a model's residual stream.

Each tensor is named ``layer.<index>`` (a decoder-block index, negative counting from the last) and has shape
``(hidden_size,)``. ``-M steering=vectors.safetensors`` on a ``characterlab/...`` model applies such a file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from safetensors import SafetensorError
from safetensors.torch import load_file

from characterlab.errors import CharacterlabError
from characterlab.models._types import SteeringVector

__all__ = ["read_steering_file"]

_NAME = re.compile(r"^layer\.(-?\d+)$")


def read_steering_file(
    path: str | Path, *, alpha: float = 1.0, positions: Literal["all", "generated"] = "all"
) -> list[SteeringVector]:
    """Read the steering vectors of a safetensors file.

    Args:
        path: The file; its tensors are named ``layer.<index>`` and are 1-dimensional.
        alpha: Scale applied to every vector.
        positions: ``all`` steers prompt and generated positions; ``generated`` only generated ones.

    Returns:
        One vector per tensor, ordered by layer.

    Raises:
        CharacterlabError: the file is missing, not safetensors, empty, or holds a tensor that is misnamed or not
            a vector.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise CharacterlabError(
            f"steering file {file} does not exist; pass a .safetensors file of layer.<index> vectors"
        )
    try:
        tensors = load_file(str(file))
    except (SafetensorError, OSError, ValueError) as error:
        raise CharacterlabError(f"steering file {file} is not a readable safetensors file: {error}") from error
    if not tensors:
        raise CharacterlabError(f"steering file {file} holds no tensors; expected vectors named layer.<index>")
    vectors: list[SteeringVector] = []
    for name, tensor in tensors.items():
        match = _NAME.match(name)
        if match is None:
            raise CharacterlabError(f"steering file {file}: tensor {name!r} is not named layer.<index> (e.g. layer.6)")
        if tensor.dim() != 1:
            raise CharacterlabError(
                f"steering file {file}: tensor {name!r} has shape {tuple(tensor.shape)}; expected (hidden_size,)"
            )
        vectors.append(SteeringVector(layer=int(match.group(1)), vector=tensor, alpha=alpha, positions=positions))
    return sorted(vectors, key=lambda vector: vector.layer)
