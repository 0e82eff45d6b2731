"""What each model provider can do, and the check a study runs before its first call.

Inspect reaches many providers, but they differ in what they give back: every one generates text, some return
the log-probabilities of the first generated tokens (enough to score single-token options such as ``A``/``B``),
and only a local model can give exact option log-likelihoods, its hidden states, steering and adapters. A study
declares what it needs; :func:`require` compares that with the table below and fails before any call, naming the
providers that would work.

The table reflects inspect-ai 0.3.285 and the providers' public APIs as of that release.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, get_args

from characterlab.errors import CapabilityError

__all__ = [
    "PROVIDER_CAPABILITIES",
    "Capabilities",
    "Need",
    "OptionLogprobs",
    "capabilities_of",
    "require",
]

OptionLogprobs = Literal["exact", "first_token", "none"]
"""How options can be scored: ``exact`` sums the log-likelihood of every token of each option given the context;
``first_token`` reads the first generated token's ``top_logprobs`` (options must differ in their first token, and
only the provider's top alternatives are visible); ``none`` gives no log-probabilities at all."""

Need = Literal["generate", "option_logprobs", "exact_option_logprobs", "activations", "steering", "adapters"]
"""What a study can ask of a model. ``option_logprobs`` is met by first-token scoring; ``exact_option_logprobs``
only by exact scoring."""


@dataclass(frozen=True)
class Capabilities:
    """What one provider can do through Inspect (as of inspect-ai 0.3.285)."""

    generate: bool
    """Generates text."""
    option_logprobs: OptionLogprobs
    """How options can be scored from its log-probabilities."""
    activations: bool
    """Returns hidden states usable for vectors and probes (summaries alongside outputs)."""
    steering: bool
    """Accepts steering vectors added to its residual stream."""
    adapters: bool
    """Loads LoRA adapters (e.g. those ``training/`` writes)."""
    note: str = ""
    """A caveat worth knowing when choosing this provider."""

    def has(self, need: Need) -> bool:
        """Whether this provider meets one need."""
        match need:
            case "generate":
                return self.generate
            case "option_logprobs":
                return self.option_logprobs != "none"
            case "exact_option_logprobs":
                return self.option_logprobs == "exact"
            case "activations":
                return self.activations
            case "steering":
                return self.steering
            case "adapters":
                return self.adapters


_LOCAL = Capabilities(True, "exact", activations=True, steering=True, adapters=True)
_FIRST_TOKEN = Capabilities(True, "first_token", activations=False, steering=False, adapters=False)
_GENERATE_ONLY = Capabilities(True, "none", activations=False, steering=False, adapters=False)
_SERVED_MODELS = "log-probabilities only for models the server returns them for; reasoning models often do not"

_TABLE: dict[str, Capabilities] = {
    "characterlab": _LOCAL,
    "hf": Capabilities(
        True,
        "first_token",
        activations=False,
        steering=False,
        adapters=False,
        note="hidden states come back in full per token (too big to log); use characterlab/ for activations",
    ),
    "openai": Capabilities(True, "first_token", False, False, False, note=_SERVED_MODELS),
    "openai-api": Capabilities(True, "first_token", False, False, False, note=_SERVED_MODELS),
    "openai-api-completions": _FIRST_TOKEN,
    "vllm": Capabilities(True, "first_token", False, False, adapters=True, note="LoRA adapters as base:adapter"),
    "vllm-completions": Capabilities(True, "first_token", False, False, adapters=True),
    "sglang": _FIRST_TOKEN,
    "together": _FIRST_TOKEN,
    "fireworks": _FIRST_TOKEN,
    "deepseek": Capabilities(True, "first_token", False, False, False, note="not for deepseek-reasoner"),
    "grok": _FIRST_TOKEN,
    "google": Capabilities(True, "first_token", False, False, False, note="only Gemini models that return logprobs"),
    "meta": _FIRST_TOKEN,
    "openrouter": Capabilities(True, "first_token", False, False, False, note="depends on the routed provider"),
    "litellm-proxy": Capabilities(True, "first_token", False, False, False, note="depends on the proxied model"),
    "llama-cpp-python": _FIRST_TOKEN,
    "ollama": Capabilities(True, "first_token", False, False, False, note="needs an Ollama server with logprobs"),
    "sagemaker": _FIRST_TOKEN,
    "nnterp": _FIRST_TOKEN,
    "hf-inference-providers": Capabilities(True, "first_token", False, False, False, note=_SERVED_MODELS),
    "anthropic": _GENERATE_ONLY,
    "bedrock": _GENERATE_ONLY,
    "azureai": _GENERATE_ONLY,
    "mistral": _GENERATE_ONLY,
    "groq": _GENERATE_ONLY,
    "cloudflare": _GENERATE_ONLY,
    "moonshot": _GENERATE_ONLY,
    "perplexity": _GENERATE_ONLY,
    "sambanova": _GENERATE_ONLY,
    "transformer_lens": _GENERATE_ONLY,
    "mockllm": Capabilities(True, "none", False, False, False, note="test double: replies are scripted"),
    "none": Capabilities(False, "none", False, False, False, note="for tasks that never call a model"),
}

PROVIDER_CAPABILITIES: Mapping[str, Capabilities] = MappingProxyType(_TABLE)
"""Capabilities by Inspect provider prefix (the part of ``--model`` before the first ``/``)."""

_UNKNOWN = Capabilities(
    True, "none", False, False, False, note="provider not in characterlab's table: assumed to generate only"
)

_NEED_WORDS: dict[Need, str] = {
    "generate": "generate text",
    "option_logprobs": "return option log-probabilities",
    "exact_option_logprobs": "return exact option log-likelihoods",
    "activations": "return activations",
    "steering": "be steered",
    "adapters": "load LoRA adapters",
}
_LOCAL_HINT = "--model characterlab/<hub id or folder>"


def capabilities_of(model_name: str) -> Capabilities:
    """Look up what a model's provider can do.

    Args:
        model_name: An Inspect model name such as ``openai/gpt-4o-mini`` or ``characterlab/default``.

    Returns:
        The provider's capabilities; for a provider the table does not know, generation only (see ``note``).
    """
    return PROVIDER_CAPABILITIES.get(_provider_of(model_name), _UNKNOWN)


def require(model_name: str, needs: Iterable[Need]) -> None:
    """Fail before any call when a model cannot do what a study needs.

    Args:
        model_name: An Inspect model name such as ``anthropic/claude-sonnet-4-0``.
        needs: What the study needs of the model.

    Raises:
        CapabilityError: naming what is missing and which providers would work instead.
        ValueError: for a need that is not one of :data:`Need` (a bug in the study, not the user's input).
    """
    wanted = list(dict.fromkeys(needs))
    unknown = [need for need in wanted if need not in get_args(Need)]
    if unknown:
        raise ValueError(f"unknown capability need(s) {unknown}; expected some of {list(get_args(Need))}")
    capabilities = capabilities_of(model_name)
    missing = [need for need in wanted if not capabilities.has(need)]
    if not missing:
        return
    what = " or ".join(_NEED_WORDS[need] for need in missing)
    message = f"{model_name} cannot {what}"
    if _provider_of(model_name) not in PROVIDER_CAPABILITIES:
        message += f" (its provider {_provider_of(model_name)!r} is unknown to characterlab, assumed to generate only)"
    raise CapabilityError(f"{message}; {_what_would_work(missing)}")


def _provider_of(model_name: str) -> str:
    return model_name.split("/", 1)[0].strip().lower()


def _what_would_work(missing: list[Need]) -> str:
    providers = [
        name
        for name, capabilities in PROVIDER_CAPABILITIES.items()
        if name != "characterlab" and all(capabilities.has(need) for need in missing)
    ]
    if not providers:
        return f"use a local model: {_LOCAL_HINT}"
    return f"use a local model ({_LOCAL_HINT}) or a model of a provider that can: {', '.join(providers)}"
