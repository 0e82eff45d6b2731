"""The data that crosses between the local engine, the Inspect provider, and the studies that use them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    # Annotations only: API-model code paths use these types without paying for torch.
    import torch

__all__ = [
    "ActivationReduction",
    "ActivationSpec",
    "GenerationRequest",
    "GenerationResult",
    "OptionScores",
    "SteeringVector",
    "TokenLogprob",
]

ActivationReduction = Literal["last_prompt_token", "mean_response", "all_tokens"]
"""How hidden states are reduced over positions: the prompt's last token (what the model "thinks" before it
answers), the mean over the generated tokens, or every token (prompt and response, unreduced)."""


@dataclass(frozen=True)
class ActivationSpec:
    """Which hidden states to capture and how to reduce them.

    Layers are decoder-block indices (0 is the first block; -1 the last); the captured value is the block's
    output, i.e. the residual stream after that block (``hidden_states[layer + 1]`` in transformers' terms).
    """

    layers: tuple[int, ...]
    reduction: ActivationReduction = "last_prompt_token"


@dataclass(frozen=True)
class SteeringVector:
    """Add ``alpha * vector`` to the residual stream after a decoder block.

    Attributes:
        layer: Decoder-block index (0 is the first; -1 the last).
        vector: Shape ``(hidden_size,)``.
        alpha: Scale; 0 changes nothing.
        positions: ``all`` adds at every position (prompt and generated); ``generated`` only at positions being
            generated (the prompt is read unsteered).
    """

    layer: int
    vector: torch.Tensor
    alpha: float = 1.0
    positions: Literal["all", "generated"] = "all"


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt to continue, already rendered to token ids (chat template or transcript applied)."""

    prompt_ids: tuple[int, ...]
    max_new_tokens: int = 256
    temperature: float = 0.0
    """0 means greedy."""
    top_p: float = 1.0
    top_k: int = 0
    """0 means no top-k cut."""
    seed: int | None = None
    """With sampling, the same seed and prompt give the same output whatever else is in the batch."""
    frequency_penalty: float = 0.0
    """Subtracted from a token's logit once per time it was already generated (OpenAI's definition)."""
    presence_penalty: float = 0.0
    """Subtracted from a token's logit if it was already generated at all (OpenAI's definition)."""
    stop_sequences: tuple[str, ...] = ()
    logprobs: bool = False
    top_logprobs: int = 0
    activations: ActivationSpec | None = None
    steering: tuple[SteeringVector, ...] = field(default=(), compare=False)
    """Steering for this request alone, added to whatever steering the engine has on (:meth:`LocalEngine.steering`);
    requests with different steering can share a batch."""
    on_token: Callable[[int], None] | None = field(default=None, compare=False, repr=False)
    """Called with each token as it is generated (from the engine's thread, so it must be quick and thread-safe:
    e.g. ``loop.call_soon_threadsafe``); for streaming a reply while the rest of its batch is still running."""


@dataclass(frozen=True)
class TokenLogprob:
    """A generated token with its log-probability and, when asked, its strongest alternatives."""

    token: str
    token_id: int
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class GenerationResult:
    """What the engine made of one request."""

    text: str
    """The continuation, cut before any stop sequence."""
    token_ids: tuple[int, ...]
    finish_reason: Literal["stop", "max_tokens"]
    prompt_tokens: int
    logprobs: tuple[TokenLogprob, ...] = ()
    activations: dict[int, torch.Tensor] = field(default_factory=dict)
    """Layer → reduced hidden state: ``(hidden,)`` for the reductions, ``(tokens, hidden)`` for ``all_tokens``."""


@dataclass(frozen=True)
class OptionScores:
    """Log-likelihoods of several continuations of one context.

    Attributes:
        options: The continuations, as scored (after the whitespace rule moved a trailing space into them).
        logprobs: Sum of token log-probabilities of each option given the context.
        token_counts: Number of tokens of each option.
        probabilities: ``softmax(logprobs)`` over the options: the model's normalised choice among them.
    """

    options: tuple[str, ...]
    logprobs: tuple[float, ...]
    token_counts: tuple[int, ...]
    probabilities: tuple[float, ...]

    @property
    def best(self) -> int:
        """Index of the most likely option."""
        return max(range(len(self.logprobs)), key=self.logprobs.__getitem__)
