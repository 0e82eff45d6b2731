"""Vector files: directions in a model's activation space, one per decoder block, with where they came from.

A vector file is a safetensors file whose tensors are named ``layer.<index>`` (shape ``(hidden_size,)``), exactly
as a steering file is, so it steers as it is (``-M steering=FILE``, the lab's steering controls); its provenance
(schema ``characterlab/vectors@1``: what kind of direction, which model, trait or character, how many responses
on each side, which judge) rides in the file's metadata.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from characterlab.errors import CharacterlabError
from characterlab.models import SteeringVector, read_steering_file

__all__ = ["VECTORS_SCHEMA", "VectorProvenance", "Vectors", "read_vectors", "save_vectors"]

VECTORS_SCHEMA: Final = "characterlab/vectors@1"
_METADATA_KEY = "characterlab"


class VectorProvenance(BaseModel):
    """Where a set of vectors came from (the metadata of a vector file)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_: Literal["characterlab/vectors@1"] = Field(default=VECTORS_SCHEMA, alias="schema")
    kind: Literal["trait", "character_axis"]
    """``trait``: showing a trait minus showing its opposite; ``character_axis``: the character staged minus the
    model's default persona."""
    model: str
    """The model whose activations these are (a name or a local folder's last part)."""
    layers: list[int]
    """The decoder blocks with a vector, in order."""
    character: str | None = None
    trait: str | None = None
    n_positive: int = Field(ge=1)
    """Responses averaged on the positive side (the trait shown, the character staged)."""
    n_negative: int = Field(ge=1)
    reduction: Literal["mean_response", "last_prompt_token"] = "mean_response"
    """Which positions' states were averaged into each response's state."""
    judge: str | None = None
    """The judge that kept clear positives and negatives; ``None`` when every response was kept."""
    threshold: float | None = None
    """The judge score a positive had to reach (a negative had to stay at or under ``100 - threshold``)."""
    created: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


@dataclass(frozen=True)
class Vectors:
    """One direction per decoder block, and their provenance."""

    provenance: VectorProvenance
    by_layer: dict[int, torch.Tensor]
    """Block index → float32 vector of shape ``(hidden_size,)``."""

    def steering(
        self,
        alpha: float,
        *,
        layers: list[int] | None = None,
        positions: Literal["all", "generated"] = "all",
        unit: bool = False,
    ) -> list[SteeringVector]:
        """Steering vectors along these directions.

        Args:
            alpha: The coefficient.
            layers: Which blocks to steer at (default: all the file has).
            positions: ``all`` or ``generated`` (see :class:`~characterlab.models.SteeringVector`).
            unit: Scale each direction to unit length first, so that ``alpha`` is in the residual stream's
                units; by default the direction is used as found, so that ``alpha = 1`` moves a state by the
                whole difference between the two sides' means (as a steering file is read).

        Raises:
            CharacterlabError: A requested layer has no vector.
        """
        chosen = self.provenance.layers if layers is None else layers
        missing = [layer for layer in chosen if layer not in self.by_layer]
        if missing:
            raise CharacterlabError(f"no vector for layer(s) {missing}; this file has {self.provenance.layers}")
        return [
            SteeringVector(
                layer=layer,
                vector=_unit(self.by_layer[layer]) if unit else self.by_layer[layer],
                alpha=alpha,
                positions=positions,
            )
            for layer in chosen
        ]


def save_vectors(vectors: Vectors, path: str | Path) -> Path:
    """Write ``vectors`` as a vector file (a steering file with provenance); the folder is created.

    Returns:
        The file written.
    """
    file = Path(path).expanduser()
    file.parent.mkdir(parents=True, exist_ok=True)
    tensors = {
        f"layer.{layer}": vector.detach().to(torch.float32).contiguous() for layer, vector in vectors.by_layer.items()
    }
    metadata = {_METADATA_KEY: vectors.provenance.model_dump_json(by_alias=True)}
    save_file(tensors, str(file), metadata=metadata)
    return file


def read_vectors(path: str | Path) -> Vectors:
    """Read a vector file.

    Raises:
        CharacterlabError: The file is missing or not safetensors, a tensor is misnamed or not a vector, or its
            provenance is missing or wrong (each problem named with its field).
    """
    file = Path(path).expanduser()
    steering = read_steering_file(file)  # the tensors' checks, shared with steering files
    try:
        with safe_open(str(file), framework="pt") as opened:
            metadata = opened.metadata() or {}
    except (SafetensorError, OSError) as error:
        raise CharacterlabError(f"vector file {file} is not a readable safetensors file: {error}") from error
    raw = metadata.get(_METADATA_KEY)
    if raw is None:
        raise CharacterlabError(
            f"vector file {file} has no characterlab provenance (a plain steering file?); vector files are written "
            "by `characterlab vectors`"
        )
    try:
        provenance = VectorProvenance.model_validate(json.loads(raw))
    except json.JSONDecodeError as error:
        raise CharacterlabError(f"vector file {file}: its provenance is not JSON: {error}") from error
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'provenance'}: {e['msg']}" for e in error.errors())
        raise CharacterlabError(f"vector file {file}: provenance: {problems}") from error
    by_layer = {vector.layer: vector.vector.to(torch.float32) for vector in steering}
    if sorted(by_layer) != sorted(provenance.layers):
        raise CharacterlabError(
            f"vector file {file}: provenance.layers is {provenance.layers} but the file holds {sorted(by_layer)}"
        )
    return Vectors(provenance=provenance, by_layer=by_layer)


def _unit(vector: torch.Tensor) -> torch.Tensor:
    norm = float(vector.norm())
    if norm == 0.0:
        raise CharacterlabError("a zero vector has no direction to steer along")
    return vector / norm
