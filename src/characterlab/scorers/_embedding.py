"""Embedding similarity: how close a reply sits to a trait's examples, and how much a set of replies agree.

Sentences are embedded with a sentence-transformers model (by default the packaged all-MiniLM-L6-v2, which works
offline) and compared by cosine similarity. Embeddings are normalised, so a cosine is a dot product.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from characterlab.models._load_failure import load_failure
from characterlab.models._load_lock import MODEL_LOAD_LOCK

__all__ = ["EmbeddingModel", "embedding_contrast", "load_embedding_model", "mean_pairwise_agreement"]


class EmbeddingModel:
    """A sentence-transformers model that turns texts into unit-length vectors.

    Build one with :func:`load_embedding_model`, which loads each model once per process.

    Args:
        name_or_path: A local folder or a Hugging Face Hub id.
        device: Where to run it (``cpu``, ``cuda``, ``cuda:N``).

    Raises:
        ModelLoadError: the folder or hub id cannot be loaded.
    """

    def __init__(self, name_or_path: str | Path, *, device: str = "cpu") -> None:
        from sentence_transformers import SentenceTransformer  # imported here: it pulls in torch

        self.name = str(name_or_path)
        """What was loaded: a folder or a hub id."""
        try:
            with MODEL_LOAD_LOCK:
                self._model = SentenceTransformer(self.name, device=device)
        except (OSError, ValueError) as error:
            raise load_failure(
                "the embedding model",
                self.name,
                error,
                folder_needs="A sentence-transformers folder needs modules.json, config.json and the weights, as "
                "written by SentenceTransformer.save()",
                instead="Pass a local folder, or leave the model unset for the packaged MiniLM",
            ) from error

    @property
    def dimension(self) -> int:
        """Length of the vectors the model returns."""
        size = self._model.get_embedding_dimension()
        if size is None:  # only for models whose last module does not declare it
            return int(self.encode(["dimension"]).shape[1])
        return int(size)

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed texts as unit-length vectors.

        Args:
            texts: The texts to embed (each truncated to the model's maximum length).

        Returns:
            A float32 array of shape ``(len(texts), dimension)`` whose rows have norm 1 (a row of zeros for a text
            the model maps to the zero vector).
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)

    def __repr__(self) -> str:
        return f"EmbeddingModel({self.name!r})"


def load_embedding_model(name_or_path: str | Path | None = None, *, device: str = "cpu") -> EmbeddingModel:
    """Load an embedding model once per process and hand back the same instance afterwards.

    Args:
        name_or_path: A local sentence-transformers folder or a Hugging Face Hub id; ``None`` for the packaged
            all-MiniLM-L6-v2 (``characterlab.models.default_embedding_model_path()``).
        device: Where to run it.

    Returns:
        The model, cached by (resolved folder or hub id, device).

    Raises:
        ModelLoadError: the model cannot be loaded (or, for ``None``, its wheel is not installed).
    """
    if name_or_path is None:
        from characterlab.models import default_embedding_model_path  # imported here: it pulls in torch

        key = str(default_embedding_model_path())
    else:
        path = Path(name_or_path).expanduser()
        key = str(path.resolve()) if path.exists() else str(name_or_path)
    return _cached_model(key, device)


@functools.cache
def _cached_model(name_or_path: str, device: str) -> EmbeddingModel:
    return EmbeddingModel(name_or_path, device=device)


def embedding_contrast(
    model: EmbeddingModel, reply: str, examples: Sequence[str], counterexamples: Sequence[str]
) -> float:
    """How much closer a reply is to a trait's examples than to its counterexamples.

    Args:
        model: The embedding model.
        reply: The reply to place.
        examples: Replies that show the trait (e.g. the ``response`` of each of a trait's examples).
        counterexamples: Replies that do not.

    Returns:
        Mean cosine similarity to the examples minus mean cosine similarity to the counterexamples, in [-2, 2]
        (positive: nearer the trait); NaN when either list is empty.
    """
    if not examples or not counterexamples:
        return math.nan
    vectors = model.encode([reply, *examples, *counterexamples])
    similarities = vectors[1:] @ vectors[0]
    return float(similarities[: len(examples)].mean() - similarities[len(examples) :].mean())


def mean_pairwise_agreement(model: EmbeddingModel, texts: Sequence[str]) -> float:
    """The mean cosine similarity over all pairs of texts: how much a set of replies say the same thing.

    Args:
        model: The embedding model.
        texts: Two or more texts (e.g. one character's replies to paraphrases of the same question).

    Returns:
        The mean over the ``n(n-1)/2`` distinct pairs, in [-1, 1]; NaN for fewer than two texts.
    """
    if len(texts) < 2:
        return math.nan
    vectors = model.encode(texts)
    similarities = vectors @ vectors.T
    upper = np.triu_indices(len(texts), k=1)
    return float(similarities[upper].mean())
