"""Contradiction between texts, read by a natural-language-inference model (premise, hypothesis → label).

Any sequence-classification model trained for NLI works (``cross-encoder/nli-deberta-v3-small``,
``microsoft/deberta-large-mnli``, ``facebook/bart-large-mnli``, a local folder of one): its labels are found by name
in its config, so their order does not matter.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from characterlab.errors import ModelLoadError
from characterlab.models._load_failure import load_failure
from characterlab.models._load_lock import MODEL_LOAD_LOCK

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["NLIModel", "contradiction_rate"]

_LABEL_PREFIXES = {"contradiction": "contradict", "entailment": "entail", "neutral": "neutral"}
"""Labels are matched by prefix, in any case: ``CONTRADICTION``, ``contradictory``, ``entails`` all name theirs."""


@dataclass
class NLIModel:
    """An NLI model with its tokenizer, and which of its outputs means what.

    Build one with :meth:`NLIModel.load`.

    Attributes:
        model: The sequence-classification model, in eval mode.
        tokenizer: Its tokenizer.
        name: What was loaded: a folder or a hub id.
        contradiction_id: The output index of the contradiction label.
        entailment_id: The output index of the entailment label, if the model has one.
        neutral_id: The output index of the neutral label, if the model has one.
        batch_size: How many pairs go through the model at once.
        max_length: Pairs longer than this many tokens are truncated (the longer text first).
    """

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    name: str
    contradiction_id: int
    entailment_id: int | None = None
    neutral_id: int | None = None
    batch_size: int = 16
    max_length: int = 512

    @classmethod
    def load(
        cls, name_or_path: str | Path, *, device: str = "cpu", batch_size: int = 16, max_length: int = 512
    ) -> NLIModel:
        """Load an NLI model from a local folder or a Hugging Face Hub id.

        Args:
            name_or_path: A folder written by ``save_pretrained`` (config, weights, tokenizer) or a hub id.
            device: Where to run it (``cpu``, ``cuda``, ``cuda:N``).
            batch_size: How many pairs go through the model at once.
            max_length: Longest pair, in tokens, before truncation (capped by the tokenizer's own maximum).

        Returns:
            The model, ready to score pairs.

        Raises:
            ModelLoadError: the folder or hub id cannot be loaded, or the model names no contradiction label.
        """
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        name = str(name_or_path)
        path = Path(name).expanduser()
        source = str(path) if path.exists() else name
        with MODEL_LOAD_LOCK:
            try:
                tokenizer = AutoTokenizer.from_pretrained(source)
            except (OSError, ValueError) as error:
                raise _load_failure("tokenizer", name, error) from error
            try:
                model = AutoModelForSequenceClassification.from_pretrained(source)
            except (OSError, ValueError) as error:
                raise _load_failure("model", name, error) from error
        ids = _label_ids(name, model.config.id2label)
        model.to(device)
        model.eval()
        limit = getattr(tokenizer, "model_max_length", max_length) or max_length
        return cls(
            model=model,
            tokenizer=tokenizer,
            name=name,
            contradiction_id=ids["contradiction"],
            entailment_id=ids.get("entailment"),
            neutral_id=ids.get("neutral"),
            batch_size=batch_size,
            max_length=min(max_length, int(limit)),
        )

    def contradiction_probabilities(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """The probability that each hypothesis contradicts its premise.

        Args:
            pairs: ``(premise, hypothesis)`` pairs; the order matters to an NLI model.

        Returns:
            One probability in [0, 1] per pair, in order (softmax over the model's labels).
        """
        import torch

        results: list[float] = []
        device = next(self.model.parameters()).device
        for start in range(0, len(pairs), self.batch_size):
            batch = pairs[start : start + self.batch_size]
            encoded: Any = self.tokenizer(
                [premise for premise, _ in batch],
                [hypothesis for _, hypothesis in batch],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            with torch.no_grad():
                logits = self.model(**encoded.to(device)).logits
            probabilities = torch.softmax(logits.float(), dim=-1)[:, self.contradiction_id]
            results.extend(float(value) for value in probabilities.cpu())
        return results


def contradiction_rate(model: NLIModel, texts: Sequence[str], threshold: float = 0.5) -> float:
    """The share of pairs of texts that contradict each other.

    Every unordered pair is read both ways (A as premise, B as hypothesis, and the reverse) because NLI is not
    symmetric; the pair counts as a contradiction if either way's P(contradiction) exceeds ``threshold``.

    Args:
        model: The NLI model.
        texts: Two or more texts, e.g. one character's answers to the same question asked several ways.
        threshold: The probability above which a reading counts as a contradiction.

    Returns:
        Contradicting pairs over the ``n(n-1)/2`` unordered pairs, in [0, 1]; NaN for fewer than two texts.
    """
    if len(texts) < 2:
        return math.nan
    unordered = list(itertools.combinations(range(len(texts)), 2))
    pairs = [(texts[i], texts[j]) for i, j in unordered] + [(texts[j], texts[i]) for i, j in unordered]
    probabilities = model.contradiction_probabilities(pairs)
    forward, backward = probabilities[: len(unordered)], probabilities[len(unordered) :]
    contradicting = sum(max(ahead, back) > threshold for ahead, back in zip(forward, backward, strict=True))
    return contradicting / len(unordered)


def _label_ids(name: str, id2label: dict[int, str] | None) -> dict[str, int]:
    """Find the contradiction (required), entailment and neutral outputs by their names, in any case."""
    found: dict[str, int] = {}
    for index, label in (id2label or {}).items():
        lowered = str(label).strip().lower()
        for wanted, prefix in _LABEL_PREFIXES.items():
            if lowered.startswith(prefix) and wanted not in found:
                found[wanted] = int(index)
    if "contradiction" not in found:
        labels = ", ".join(repr(label) for _, label in sorted((id2label or {}).items())) or "none"
        raise ModelLoadError(
            f"{name!r} has no contradiction label (its config's id2label names {labels}); use an NLI model whose "
            "config names its labels, e.g. entailment / neutral / contradiction"
        )
    return found


def _load_failure(what: str, name: str, error: Exception) -> ModelLoadError:
    return load_failure(
        f"the NLI {what}",
        name,
        error,
        folder_needs="The folder needs config.json, the weights and the tokenizer files of a sequence-classification "
        "model, as written by save_pretrained",
        instead="Pass a local folder holding an NLI model, e.g. one downloaded with "
        "`hf download cross-encoder/nli-deberta-v3-small --local-dir <folder>`",
    )
