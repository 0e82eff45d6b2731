"""Looking inside: trait and character directions in a local model's activations, probes, and vector files.

- :func:`trait_vectors` and :func:`character_axis` find directions (difference of mean activations) and return
  them as :class:`Vectors`, which :func:`save_vectors` writes as a steering file with provenance.
- :func:`projections` measures how far responses lie along a direction (monitoring).
- :func:`probe_layers` fits a logistic-regression probe per layer, held out by prompt, with intervals.
- :func:`best_of_n` samples N replies and keeps the one a probe (:func:`fit_probe`) scores best from the
  activations captured while generating, checked by a separate scorer.
- :func:`relative_representation` and :func:`compare_arrangements` compare how two models arrange the same
  characters (cosine similarity to shared anchor prompts, after Moschella et al. 2022).
- :func:`steering_sweep` steers along a direction over layers and coefficients, scoring the trait beside a
  capability check; :func:`sweep_page` shows it.
"""

from characterlab.interp._best_of_n import BestOfN, BestOfNPoint, LinearProbe, StateScorer, best_of_n, fit_probe
from characterlab.interp._directions import mean_difference, projections
from characterlab.interp._extraction import Judge, Response, character_axis, contrastive_instructions, trait_vectors
from characterlab.interp._probe_data import ProbeData, speaker_activations
from characterlab.interp._probes import LayerProbe, probe_layers
from characterlab.interp._relative import ArrangementMatch, compare_arrangements, relative_representation
from characterlab.interp._sweep import CapabilityCheck, SweepPoint, default_capability_check, steering_sweep
from characterlab.interp._sweep_page import sweep_page, sweep_table
from characterlab.interp._vector_file import VECTORS_SCHEMA, VectorProvenance, Vectors, read_vectors, save_vectors

__all__ = [
    "VECTORS_SCHEMA",
    "ArrangementMatch",
    "BestOfN",
    "BestOfNPoint",
    "CapabilityCheck",
    "Judge",
    "LayerProbe",
    "LinearProbe",
    "ProbeData",
    "Response",
    "StateScorer",
    "SweepPoint",
    "VectorProvenance",
    "Vectors",
    "best_of_n",
    "character_axis",
    "compare_arrangements",
    "contrastive_instructions",
    "default_capability_check",
    "fit_probe",
    "mean_difference",
    "probe_layers",
    "projections",
    "read_vectors",
    "relative_representation",
    "save_vectors",
    "speaker_activations",
    "steering_sweep",
    "sweep_page",
    "sweep_table",
    "trait_vectors",
]
