"""Models: the local transformers engine, the Inspect provider ``characterlab/...``, and what each provider can do.

Everything that talks to a model goes through Inspect; this package adds the local provider that can score
options, return activations and be steered, and the capability table that makes a study fail early when a model
cannot do what it needs.
"""

from characterlab.models._capabilities import (
    PROVIDER_CAPABILITIES,
    Capabilities,
    Need,
    OptionLogprobs,
    capabilities_of,
    require,
)
from characterlab.models._engine import LocalEngine
from characterlab.models._loading import (
    DefaultModel,
    LoadedModel,
    cache_dir,
    default_embedding_model_path,
    default_model_path,
    load_model,
)
from characterlab.models._option_scoring import score_options
from characterlab.models._provider import LocalModelAPI, local_api, steered
from characterlab.models._steering_file import read_steering_file
from characterlab.models._tiny import build_tiny_model
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
    "PROVIDER_CAPABILITIES",
    "ActivationReduction",
    "ActivationSpec",
    "Capabilities",
    "DefaultModel",
    "GenerationRequest",
    "GenerationResult",
    "LoadedModel",
    "LocalEngine",
    "LocalModelAPI",
    "Need",
    "OptionLogprobs",
    "OptionScores",
    "SteeringVector",
    "TokenLogprob",
    "build_tiny_model",
    "cache_dir",
    "capabilities_of",
    "default_embedding_model_path",
    "default_model_path",
    "load_model",
    "local_api",
    "read_steering_file",
    "require",
    "score_options",
    "steered",
]
