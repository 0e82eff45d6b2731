"""How much more likely a model makes the character's reply than its default one: the log-probability margin.

This is DPO's own measure, taken on pairs training never saw. If training did anything, the margin of
``log p(chosen) - log p(rejected)`` rises on held-out pairs over the untrained student.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["completion_logprob", "preference_margins"]


@torch.no_grad()
def completion_logprob(model: Any, tokenizer: Any, prompt: str, completion: str) -> float:
    """The sum of log-probabilities of ``completion`` (then EOS) after ``prompt``, tokenized as TRL's DPO does.

    Args:
        model: A causal language model (with or without an adapter).
        tokenizer: Its tokenizer.
        prompt: The text the completion continues (the student's prompt frame).
        completion: The reply.
    """
    eos = tokenizer.eos_token or ""
    full_text = completion if completion.endswith(eos) else completion + eos
    prompt_ids = tokenizer(prompt)["input_ids"]
    full_ids = tokenizer(prompt + full_text)["input_ids"]
    start = 0
    while start < min(len(prompt_ids), len(full_ids)) and prompt_ids[start] == full_ids[start]:
        start += 1
    if start >= len(full_ids):
        return 0.0
    device = next(model.parameters()).device
    ids = torch.tensor([full_ids], device=device)
    logits = model(input_ids=ids).logits[0, :-1].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    targets = ids[0, 1:]
    picked = logprobs.gather(1, targets.unsqueeze(1)).squeeze(1)
    # Position i predicts token i + 1: the completion's tokens are predicted from position start - 1 on.
    return float(picked[max(start - 1, 0) :].sum())


def preference_margins(model: Any, tokenizer: Any, rows: Sequence[dict[str, str]]) -> list[float]:
    """``log p(chosen) - log p(rejected)`` for every preference row (see :func:`completion_logprob`)."""
    was_training = bool(getattr(model, "training", False))
    model.eval()
    try:
        return [
            completion_logprob(model, tokenizer, row["prompt"], row["chosen"])
            - completion_logprob(model, tokenizer, row["prompt"], row["rejected"])
            for row in rows
        ]
    finally:
        if was_training:
            model.train()
