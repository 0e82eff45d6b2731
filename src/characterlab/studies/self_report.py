"""``self_report``: what does the character say about its own nature, and does it say the same thing each time?

Questions about desires, feelings, memory, origin, being an AI, what it would change about itself and more, each
in several paraphrases and asked in several contexts (casual, formal, adversarial, inside a story). A sample is
one question in one condition; its replies (paraphrases × contexts) are compared with each other three ways:

- ``embedding_agreement``: mean pairwise cosine similarity of the replies (MiniLM by default);
- ``stance_agreement``: a judge places each reply on the question's stances (option-scored where the judge gives
  log-probabilities); the share of replies that take the most common stance;
- ``nli_contradiction``: the share of reply pairs an NLI model reads as contradicting each other (given
  ``nli_model``, a hub id or local folder; missing otherwise).
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessage, GenerateConfig, get_model
from inspect_ai.scorer import Score, Scorer, Target, scorer
from inspect_ai.solver import Generate, Solver, TaskState, solver
from pydantic import TypeAdapter

from characterlab.characters import Character, substitute_macros
from characterlab.errors import CharacterlabError
from characterlab.scorers import (
    NLIModel,
    contradiction_rate,
    extract_stance,
    load_embedding_model,
    mean_pairwise_agreement,
)
from characterlab.scorers._metrics import present_mean
from characterlab.stage import StageContext
from characterlab.studies._banks import SelfReportBank, load_self_report_bank
from characterlab.studies._study import (
    StageExamples,
    character_messages,
    judge_model,
    judge_roles,
    load_study_character,
    names_given,
    stage_context,
    study_metadata,
)

__all__ = ["self_report"]

_METRICS = ("embedding_agreement", "stance_agreement", "nli_contradiction")
# The messages of each ask are kept in the sample's metadata as plain data (so the log shows them) and read back.
_MESSAGES: TypeAdapter[list[ChatMessage]] = TypeAdapter(list[ChatMessage])


@task
def self_report(
    data: str | None = None,
    character: str | None = None,
    baseline: bool = False,
    questions: str | Sequence[str] | None = None,
    contexts: str | Sequence[str] | None = None,
    judge: str | None = None,
    nli_model: str | None = None,
    embedding_model: str | None = None,
    temperature: float = 0.7,
    max_tokens: int = 96,
    seed: int = 0,
    examples: StageExamples = "system",
) -> Task:
    """Ask the questions about the character's own nature in every paraphrase and context; measure agreement.

    Args:
        data: A self-report bank (YAML, ``characterlab/self-report-bank@1``). Default: the packaged bank.
        character: A character file or card to stage.
        baseline: Also ask without the character, paired by question.
        questions: Question ids to ask (comma-separated or a list). Default: all.
        contexts: Context ids to ask in. Default: all.
        judge: The model that reads each reply's stance (default: the model under study).
        nli_model: An NLI model (hub id or local folder) for the contradiction rate; without one it is missing.
        embedding_model: A sentence-transformers model (default: the packaged MiniLM).
        temperature: Sampling temperature of the replies.
        max_tokens: Longest reply.
        seed: Sampling seed (each reply gets its own, derived from it).
        examples: Where a character's example exchanges go: ``system``, ``messages`` or ``none``.
    """
    staged = load_study_character(character)
    if baseline and staged is None:
        raise CharacterlabError("self_report: --baseline compares a character with the bare model; give --character")
    bank, record = load_self_report_bank(data)
    chosen_questions = _choose("question", names_given(questions), [question.id for question in bank.questions])
    chosen_contexts = _choose("context", names_given(contexts), list(bank.contexts))
    conditions: list[tuple[str, Character | None]] = (
        [("model", None)] if staged is None else [("character", staged.character)]
    )
    if baseline:
        conditions.append(("baseline", None))
    samples = []
    for question in bank.questions:
        if question.id not in chosen_questions:
            continue
        for condition, staged_as in conditions:
            asks = _asks(bank, question.paraphrases, chosen_contexts, staged_as, stage_context(examples))
            samples.append(
                Sample(
                    id=question.id if condition in ("model", "character") else f"{question.id}:{condition}",
                    input=question.paraphrases[0],
                    metadata={
                        "group": question.id,
                        "condition": condition,
                        "item": question.id,
                        "topic": question.topic,
                        "stance_question": question.stance_question,
                        "stances": list(question.stances),
                        "asks": asks,
                    },
                )
            )
    settings = {
        "questions": sorted(chosen_questions),
        "contexts": chosen_contexts,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "seed": seed,
        "examples": examples if staged else None,
        "nli_model": nli_model,
        "embedding_model": embedding_model or "packaged MiniLM (all-MiniLM-L6-v2)",
    }
    return Task(
        dataset=MemoryDataset(samples, name="self_report"),
        solver=_ask_all(temperature=temperature, max_tokens=max_tokens, seed=seed),
        scorer=self_report_agreement(nli_model=nli_model, embedding_model=embedding_model),
        model_roles=judge_roles(judge),
        metadata=study_metadata(
            "self_report",
            settings=settings,
            character=staged,
            baseline="none" if baseline else None,
            judge=judge,
            data_files=[record],
        ),
    )


def _asks(
    bank: SelfReportBank,
    paraphrases: Sequence[str],
    contexts: Sequence[str],
    character: Character | None,
    stage: StageContext,
) -> list[dict[str, Any]]:
    """Every (paraphrase, context) prompt of a question, with the messages that ask it."""
    char = character.display_name if character else "you"
    asks = []
    for paraphrase_index, paraphrase in enumerate(paraphrases):
        for context in contexts:
            text = substitute_macros(bank.prompt(paraphrase, context), char=char, user="User")
            asks.append(
                {
                    "paraphrase": paraphrase_index,
                    "context": context,
                    "prompt": text,
                    "messages": [
                        m.model_dump(exclude_none=True) for m in character_messages(character, [text], context=stage)
                    ],
                }
            )
    return asks


@solver
def _ask_all(*, temperature: float, max_tokens: int, seed: int) -> Solver:
    async def solve(state: TaskState, generate: Generate) -> TaskState:
        model = get_model()
        asks: list[dict[str, Any]] = state.metadata["asks"]

        async def ask(index: int, entry: dict[str, Any]) -> str:
            messages = _MESSAGES.validate_python(entry["messages"])
            config = GenerateConfig(temperature=temperature, max_tokens=max_tokens, seed=seed + index)
            output = await model.generate(messages, config=config)
            return output.completion.strip()

        replies = await asyncio.gather(*(ask(index, entry) for index, entry in enumerate(asks)))
        state.store.set("replies", list(replies))
        return state

    return solve


@scorer(metrics={name: [present_mean()] for name in _METRICS})
def self_report_agreement(*, nli_model: str | None = None, embedding_model: str | None = None) -> Scorer:
    """How consistently a question's replies agree: embeddings, the stances a judge reads, NLI contradictions."""

    async def score(state: TaskState, target: Target) -> Score:
        replies: list[str] = state.store.get("replies", [])
        present = [reply for reply in replies if reply]
        embedder = await asyncio.to_thread(load_embedding_model, embedding_model)
        agreement = await asyncio.to_thread(mean_pairwise_agreement, embedder, present)
        judge = judge_model()
        stances: list[str] = state.metadata["stances"]
        read = await asyncio.gather(
            *(extract_stance(judge, state.metadata["stance_question"], reply, stances) for reply in present)
        )
        placed = [result.stance for result in read if result.stance is not None]
        stance_agreement = Counter(placed).most_common(1)[0][1] / len(placed) if len(placed) >= 2 else math.nan
        contradiction = math.nan
        if nli_model:
            nli = await asyncio.to_thread(_nli_model, nli_model)
            contradiction = await asyncio.to_thread(contradiction_rate, nli, present)
        return Score(
            value={
                "embedding_agreement": agreement,
                "stance_agreement": stance_agreement,
                "nli_contradiction": contradiction,
            },
            explanation=f"{len(present)} replies; stances: {dict(Counter(placed))}",
            metadata={
                "stances": [result.stance for result in read],
                "stance_method": sorted({result.method for result in read}),
                "replies": replies,
            },
        )

    return score


@functools.cache
def _nli_model(name_or_path: str) -> NLIModel:
    """Each NLI model is loaded once per process, not once per sample."""
    return NLIModel.load(name_or_path)


def _choose(kind: str, wanted: list[str] | None, available: list[str]) -> list[str]:
    if wanted is None:
        return available
    unknown = [name for name in wanted if name not in available]
    if unknown:
        raise CharacterlabError(f"self_report: unknown {kind}(s) {', '.join(unknown)}; known: {', '.join(available)}")
    return [name for name in available if name in wanted]
