"""Choosing the next token of one row: greedy, or temperature / top-k / top-p sampling with the row's own generator.

Each sampled row draws from its own ``torch.Generator`` seeded from the request's seed and its prompt, and draws
exactly one number per step, so a seeded request writes the same text whatever else shares its batch.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence

import torch

from characterlab.models._types import GenerationRequest

__all__ = ["apply_penalties", "check_sampling", "row_generator", "sample_token"]


def check_sampling(request: GenerationRequest) -> None:
    """Reject sampling settings that have no meaning.

    Raises:
        ValueError: Negative temperature or top-k, top-p outside ``(0, 1]``, or no tokens to generate.
    """
    if request.temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {request.temperature}")
    if not 0 < request.top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {request.top_p}")
    if request.top_k < 0:
        raise ValueError(f"top_k must be >= 0, got {request.top_k}")
    if request.max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {request.max_new_tokens}")
    if not request.prompt_ids:
        raise ValueError("a generation request needs at least one prompt token")


def row_generator(seed: int | None, prompt_ids: Sequence[int], device: torch.device) -> torch.Generator:
    """A generator seeded from ``(seed, prompt_ids)``; from fresh entropy when ``seed`` is None."""
    if seed is None:
        row_seed = secrets.randbits(63)
    else:
        material = f"{seed}|{','.join(map(str, prompt_ids))}".encode()
        row_seed = int.from_bytes(hashlib.sha256(material).digest()[:8], "little") & ((1 << 63) - 1)
    generator = torch.Generator(device=device)
    generator.manual_seed(row_seed)
    return generator


def sample_token(logits: torch.Tensor, request: GenerationRequest, generator: torch.Generator) -> int:
    """Sample one token id from a row's next-token ``logits`` (shape ``(vocab,)``, float32) at ``temperature > 0``."""
    scores = logits / request.temperature
    vocab = scores.shape[-1]
    if 0 < request.top_k < vocab:
        kth_best = torch.topk(scores, request.top_k).values[-1]
        scores = scores.masked_fill(scores < kth_best, float("-inf"))
    if request.top_p < 1:
        sorted_scores, order = torch.sort(scores, descending=True)
        probs = torch.softmax(sorted_scores, dim=-1)
        # Keep the smallest set of best tokens whose mass reaches top_p (always at least the best one).
        drop = torch.cumsum(probs, dim=-1) - probs >= request.top_p
        scores = scores.index_fill(0, order[drop], float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator).item())


def apply_penalties(logits: torch.Tensor, request: GenerationRequest, generated: Sequence[int]) -> torch.Tensor:
    """Lower the logits of tokens already generated, by the request's frequency and presence penalties.

    Small models decoding greedily fall into loops ("I'm sorry. I'm sorry. ..."); these are the penalties Inspect's
    ``GenerateConfig`` carries for API models, with OpenAI's meaning, applied to the row's own generated tokens.

    Args:
        logits: The row's next-token logits, shape ``(vocab,)``.
        request: Carries the penalties.
        generated: The tokens the row has generated so far.

    Returns:
        The penalised logits (a new tensor), or ``logits`` itself when there is nothing to penalise.
    """
    if not generated or (request.frequency_penalty == 0 and request.presence_penalty == 0):
        return logits
    counts = torch.bincount(torch.tensor(generated, device=logits.device), minlength=logits.shape[-1])
    counts = counts[: logits.shape[-1]].to(logits.dtype)
    return logits - counts * request.frequency_penalty - (counts > 0).to(logits.dtype) * request.presence_penalty
