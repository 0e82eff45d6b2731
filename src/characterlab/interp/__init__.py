"""Looking inside: trait and character directions in a local model's activations, probes, and vector files.

- :func:`trait_vectors` and :func:`character_axis` find directions (difference of mean activations) and return
  them as :class:`Vectors`, which :func:`save_vectors` writes as a steering file with provenance.
- :func:`projections` measures how far responses lie along a direction (monitoring).
- :func:`probe_layers` fits a logistic-regression probe per layer, held out by prompt, with intervals.
"""

from characterlab.interp._directions import mean_difference, projections
from characterlab.interp._extraction import Judge, Response, character_axis, contrastive_instructions, trait_vectors
from characterlab.interp._probes import LayerProbe, probe_layers
from characterlab.interp._vector_file import VECTORS_SCHEMA, VectorProvenance, Vectors, read_vectors, save_vectors

__all__ = [
    "VECTORS_SCHEMA",
    "Judge",
    "LayerProbe",
    "Response",
    "VectorProvenance",
    "Vectors",
    "character_axis",
    "contrastive_instructions",
    "mean_difference",
    "probe_layers",
    "projections",
    "read_vectors",
    "save_vectors",
    "trait_vectors",
]
