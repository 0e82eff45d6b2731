"""Models: the local transformers engine, the Inspect provider ``characterlab/...``, and what each provider can do.

Everything that talks to a model goes through Inspect; this package adds the local provider that can score
options, return activations and be steered, and the capability table that makes a study fail early when a model
cannot do what it needs.
"""

from characterlab.models._types import (
    ActivationReduction,
    ActivationSpec,
    GenerationRequest,
    GenerationResult,
    OptionScores,
    SteeringVector,
    TokenLogprob,
)

__all__ = [
    "ActivationReduction",
    "ActivationSpec",
    "GenerationRequest",
    "GenerationResult",
    "OptionScores",
    "SteeringVector",
    "TokenLogprob",
]
