"""Activations to probe: several characters (or a character and the default persona) answering the same questions.

Every reply's state is the mean over its tokens at each requested block; the label says who answered and the
group says which question was asked, so that :func:`~characterlab.interp.probe_layers` can hold questions out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from characterlab.characters import Character
from characterlab.errors import CharacterlabError
from characterlab.interp._extraction import require_chat_model
from characterlab.models import ActivationSpec, GenerationRequest, LocalEngine
from characterlab.stage import FrameMessage, StageContext, render_chat_frame

__all__ = ["ProbeData", "speaker_activations"]

DEFAULT_PERSONA = "(default persona)"
"""The label of replies given with no character staged."""


@dataclass(frozen=True)
class ProbeData:
    """Features per block, with a label and a group (the question) per reply."""

    features: dict[int, np.ndarray]
    """Block index → ``(replies, hidden_size)``."""
    labels: list[str]
    groups: list[str]
    texts: list[str]


def speaker_activations(
    engine: LocalEngine,
    characters: Sequence[Character],
    questions: Sequence[str],
    *,
    layers: Sequence[int] | None = None,
    include_default: bool = False,
    max_new_tokens: int = 48,
) -> ProbeData:
    """Each character (and, with ``include_default``, the bare model) answers every question.

    Args:
        engine: A local chat model.
        characters: Who speaks; labels are their names.
        questions: What each is asked (the groups).
        layers: Blocks to read (default: every block).
        include_default: Also answer as the model's default persona (label ``(default persona)``): with one
            character this is the in- versus out-of-character probe.
        max_new_tokens: Length of each reply.

    Raises:
        CharacterlabError: Fewer than two speakers, or no questions.
    """
    speakers: list[tuple[str, Character | None]] = [(c.name, c) for c in characters]
    if include_default:
        speakers.append((DEFAULT_PERSONA, None))
    if len(speakers) < 2 or not questions:
        raise CharacterlabError("a probe needs at least two speakers and one question")
    require_chat_model(engine)
    blocks = tuple(range(engine.loaded.num_layers)) if layers is None else tuple(layers)
    spec = ActivationSpec(layers=blocks, reduction="mean_response")
    requests, labels, groups = [], [], []
    for name, character in speakers:
        for question in questions:
            messages = [{"role": "user", "content": question}]
            if character is not None:
                context = StageContext(greeting=None, history=[FrameMessage(role="user", content=question)])
                messages = [m.model_dump() for m in render_chat_frame(character, context)]
            prompt = tuple(engine.chat_prompt_ids(messages))
            requests.append(GenerationRequest(prompt_ids=prompt, max_new_tokens=max_new_tokens, activations=spec))
            labels.append(name)
            groups.append(question)
    results = engine.generate(requests)
    features = {
        block % engine.loaded.num_layers: np.stack([r.activations[block].numpy() for r in results]) for block in blocks
    }
    return ProbeData(features=features, labels=labels, groups=groups, texts=[r.text for r in results])
