"""Models: the local transformers engine, the Inspect provider ``characterlab/...``, and what each provider can do.

Everything that talks to a model goes through Inspect; this package adds the local provider that can score
options, return activations and be steered, and the capability table that makes a study fail early when a model
cannot do what it needs.
"""

# Inspect imports this package for every run, whatever the model, through the provider's entry point; the
# names below are therefore loaded on first use, so that only runs that use a local model pay for torch.
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from characterlab.models._messages import chat_messages
    from characterlab.models._option_scoring import local_model_api, score_options
    from characterlab.models._provider import (
        LocalModelAPI,
        local_api,
        steered,
    )
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

_LAZY = {
    "ActivationReduction": "characterlab.models._types",
    "ActivationSpec": "characterlab.models._types",
    "Capabilities": "characterlab.models._capabilities",
    "DefaultModel": "characterlab.models._loading",
    "GenerationRequest": "characterlab.models._types",
    "GenerationResult": "characterlab.models._types",
    "LoadedModel": "characterlab.models._loading",
    "LocalEngine": "characterlab.models._engine",
    "LocalModelAPI": "characterlab.models._provider",
    "Need": "characterlab.models._capabilities",
    "OptionLogprobs": "characterlab.models._capabilities",
    "OptionScores": "characterlab.models._types",
    "PROVIDER_CAPABILITIES": "characterlab.models._capabilities",
    "SteeringVector": "characterlab.models._types",
    "TokenLogprob": "characterlab.models._types",
    "build_tiny_model": "characterlab.models._tiny",
    "cache_dir": "characterlab.models._loading",
    "capabilities_of": "characterlab.models._capabilities",
    "chat_messages": "characterlab.models._messages",
    "default_embedding_model_path": "characterlab.models._loading",
    "default_model_path": "characterlab.models._loading",
    "load_model": "characterlab.models._loading",
    "local_api": "characterlab.models._provider",
    "local_model_api": "characterlab.models._option_scoring",
    "read_steering_file": "characterlab.models._steering_file",
    "require": "characterlab.models._capabilities",
    "score_options": "characterlab.models._option_scoring",
    "steered": "characterlab.models._provider",
}


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
    "chat_messages",
    "default_embedding_model_path",
    "default_model_path",
    "load_model",
    "local_api",
    "local_model_api",
    "read_steering_file",
    "require",
    "score_options",
    "steered",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
