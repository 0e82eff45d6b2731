"""Finding a trait's direction and a character's axis in a local model's activations.

Trait vectors (after Chen et al. 2025, persona vectors): the model answers the trait's probes twice, once told
to show the trait (its description and examples) and once told to show its opposite (with the counterexamples);
an optional judge keeps only clear positives and clear negatives; the vector at each block is the mean state over
response tokens of the positives minus that of the negatives.

The character axis (after the Assistant Axis): the same questions answered by the character, staged in full,
and by the model's default persona (no system prompt); the axis is their difference of means. Projections on it
track how much a reply sounds like the character.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from characterlab.characters import Character, Exchange, Trait
from characterlab.errors import CharacterlabError
from characterlab.interp._directions import mean_difference
from characterlab.interp._vector_file import VectorProvenance, Vectors
from characterlab.models import ActivationSpec, GenerationRequest, GenerationResult, LocalEngine
from characterlab.stage import FrameMessage, StageContext, render_chat_frame

__all__ = ["Judge", "Response", "character_axis", "contrastive_instructions", "trait_vectors"]

Judge = Callable[[Sequence[tuple[str, str]]], Sequence[float | None]]
"""``judge([(question, reply), ...])``: how strongly the trait shows in each reply, 0 to 100 (``None`` when it
cannot say); all replies at once, so that a judge model can take them concurrently."""


@dataclass(frozen=True)
class Response:
    """One generated reply and its state per block (the mean over its tokens)."""

    side: str
    """``positive`` or ``negative``."""
    question: str
    text: str
    states: dict[int, torch.Tensor]
    score: float | None = None
    """The judge's score, when a judge was asked."""


def contrastive_instructions(trait: Trait) -> tuple[str, str]:
    """System prompts asking for the trait, and for its opposite, built from its description and examples."""
    name = trait.id.replace("-", " ").replace("_", " ")
    positive = f"Show the trait '{name}' strongly in every reply. The trait: {trait.description.strip()}" + _examples(
        "Replies that show it", trait.examples
    )
    negative = (
        f"Show the opposite of the trait '{name}' in every reply: never let it show. The trait you must avoid: "
        f"{trait.description.strip()}" + _examples("Replies in the spirit you want", trait.counterexamples)
    )
    return positive, negative


def trait_vectors(
    engine: LocalEngine,
    character: Character,
    trait_id: str,
    *,
    layers: Sequence[int],
    questions: Sequence[str] = (),
    judge: Judge | None = None,
    judge_name: str | None = None,
    threshold: float = 50.0,
    max_new_tokens: int = 64,
    batch_size: int = 16,
) -> tuple[Vectors, list[Response]]:
    """The direction of one of a character's traits at each of ``layers``.

    Args:
        engine: A loaded local model with a chat template.
        character: The character whose trait it is.
        trait_id: The trait.
        layers: Decoder blocks to read (negative counts from the last).
        questions: Questions to ask besides the trait's own probes.
        judge: Scores how strongly a reply shows the trait; positives must reach ``threshold``, negatives stay at
            or under ``100 - threshold``. Without one every reply is kept.
        judge_name: How the judge is recorded in the provenance.
        threshold: See ``judge``.
        max_new_tokens: Length of each reply.
        batch_size: Replies generated together.

    Returns:
        The vectors (with provenance) and every response with its score, kept or not.

    Raises:
        CharacterlabError: The trait is unknown or has no probes and no questions were given, or the judge kept
            nothing on one side.
    """
    try:
        trait = character.trait(trait_id)
    except KeyError as error:
        raise CharacterlabError(str(error.args[0])) from error
    asked = list(dict.fromkeys([*trait.probes, *questions]))
    if not asked:
        raise CharacterlabError(f"trait {trait_id!r} of {character.name} has no probes; give questions to ask")
    require_chat_model(engine)
    layers = _resolved(engine, layers)
    positive, negative = contrastive_instructions(trait)
    responses = [
        *_answer(engine, positive, asked, "positive", layers, max_new_tokens, batch_size),
        *_answer(engine, negative, asked, "negative", layers, max_new_tokens, batch_size),
    ]
    if judge is not None:
        scores = list(judge([(r.question, r.text) for r in responses]))
        if len(scores) != len(responses):
            raise CharacterlabError(f"the judge returned {len(scores)} scores for {len(responses)} replies")
        responses = [
            Response(r.side, r.question, r.text, r.states, score) for r, score in zip(responses, scores, strict=True)
        ]
        kept = [
            r
            for r in responses
            if r.score is not None and (r.score >= threshold if r.side == "positive" else r.score <= 100.0 - threshold)
        ]
    else:
        kept = responses
    chosen = {side: [r.states for r in kept if r.side == side] for side in ("positive", "negative")}
    if not chosen["positive"] or not chosen["negative"]:
        missing = sum(r.score is None for r in responses)
        raise CharacterlabError(
            f"the judge kept {len(chosen['positive'])} positive and {len(chosen['negative'])} negative replies for "
            f"{trait_id!r} ({missing} of {len(responses)} replies got no usable score); lower the threshold, ask "
            "more questions, or use a stronger judge"
        )
    directions = mean_difference(chosen["positive"], chosen["negative"])
    provenance = VectorProvenance(
        kind="trait",
        model=engine.loaded.name,
        layers=sorted(directions),
        character=character.name,
        trait=trait_id,
        n_positive=len(chosen["positive"]),
        n_negative=len(chosen["negative"]),
        judge=judge_name if judge is not None else None,
        threshold=threshold if judge is not None else None,
    )
    return Vectors(provenance=provenance, by_layer=directions), responses


def character_axis(
    engine: LocalEngine,
    character: Character,
    questions: Sequence[str],
    *,
    layers: Sequence[int],
    max_new_tokens: int = 64,
    batch_size: int = 16,
) -> tuple[Vectors, list[Response]]:
    """The character staged minus the model's default persona, at each of ``layers``, over ``questions``.

    Raises:
        CharacterlabError: No questions.
    """
    if not questions:
        raise CharacterlabError("the character axis needs questions to ask both personas")
    require_chat_model(engine)
    spec = ActivationSpec(layers=_resolved(engine, layers), reduction="mean_response")
    staged = [
        engine.chat_prompt_ids(
            [m.model_dump() for m in render_chat_frame(character, StageContext(greeting=None, history=[_user(q)]))]
        )
        for q in questions
    ]
    default = [engine.chat_prompt_ids([{"role": "user", "content": q}]) for q in questions]
    positive = _generate(engine, staged, spec, max_new_tokens, batch_size)
    negative = _generate(engine, default, spec, max_new_tokens, batch_size)
    responses = [
        *(Response("positive", q, r.text, _states(r)) for q, r in zip(questions, positive, strict=True)),
        *(Response("negative", q, r.text, _states(r)) for q, r in zip(questions, negative, strict=True)),
    ]
    directions = mean_difference(
        [r.states for r in responses if r.side == "positive"], [r.states for r in responses if r.side == "negative"]
    )
    provenance = VectorProvenance(
        kind="character_axis",
        model=engine.loaded.name,
        layers=sorted(directions),
        character=character.name,
        n_positive=len(questions),
        n_negative=len(questions),
    )
    return Vectors(provenance=provenance, by_layer=directions), responses


def _answer(
    engine: LocalEngine,
    instruction: str,
    questions: Sequence[str],
    side: str,
    layers: Sequence[int],
    max_new_tokens: int,
    batch_size: int,
) -> list[Response]:
    spec = ActivationSpec(layers=tuple(layers), reduction="mean_response")
    prompts = [
        engine.chat_prompt_ids([{"role": "system", "content": instruction}, {"role": "user", "content": q}])
        for q in questions
    ]
    results = _generate(engine, prompts, spec, max_new_tokens, batch_size)
    return [Response(side, q, r.text, _states(r)) for q, r in zip(questions, results, strict=True)]


def _generate(
    engine: LocalEngine, prompts: Sequence[Sequence[int]], spec: ActivationSpec, max_new_tokens: int, batch_size: int
) -> list[GenerationResult]:
    requests = [
        GenerationRequest(prompt_ids=tuple(prompt), max_new_tokens=max_new_tokens, activations=spec)
        for prompt in prompts
    ]
    return engine.generate(requests, batch_size=batch_size)


def _states(result: GenerationResult) -> dict[int, torch.Tensor]:
    return dict(result.activations)


def require_chat_model(engine: LocalEngine) -> None:
    """Directions and probes compare replies to chat prompts (system instructions, staged characters).

    Raises:
        CharacterlabError: The model has no chat template (a base model).
    """
    if not engine.loaded.has_chat_template:
        raise CharacterlabError(
            f"{engine.loaded.name} has no chat template (a base model); directions and probes need a chat model "
            "(e.g. characterlab/default)"
        )


def _user(question: str) -> FrameMessage:
    return FrameMessage(role="user", content=question)


def _resolved(engine: LocalEngine, layers: Sequence[int]) -> tuple[int, ...]:
    """Block indices made non-negative (``-1`` is the last), so files name the blocks they hold."""
    count = engine.loaded.num_layers
    bad = [layer for layer in layers if not -count <= layer < count]
    if bad or not layers:
        raise CharacterlabError(f"layers {list(layers)}: the model has blocks 0 to {count - 1} (or -1 to -{count})")
    return tuple(dict.fromkeys(layer % count for layer in layers))


def _examples(title: str, exchanges: Sequence[Exchange]) -> str:
    if not exchanges:
        return ""
    shown = "\n".join(f"- To: {e.context.strip()}\n  Reply: {e.response.strip()}" for e in exchanges[:3])
    return f"\n\n{title}:\n{shown}"
