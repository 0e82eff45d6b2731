"""Before and after: is the character present without the prompt, and only where it was trained?

Three conditions answer the same prompts: the untrained student without the character (``untrained``), the
untrained student staged with the character (``prompted``), and the trained student without the character
(``trained``). Two prompt sets: held-out prompts like the training ones (same traits, never trained on), and
unseen contexts (other domains, tones, languages, multi-turn openings) that training never showed. A character
that holds only where it was trained is visible as a gap between the two sets.

Every reply is scored judge-free by its *character contrast*: cosine similarity to the teacher's replies as the
character minus similarity to the student's default replies (both from the training pairs), so it works for any
character and any model size; and, when a judge is given, by a 0-100 judge of how much the reply sounds like the
character. Replies are written to a file as they come, so an interrupted evaluation resumes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from inspect_ai.model import ChatMessage, ChatMessageAssistant, ChatMessageUser, GenerateConfig, Model
from pydantic import BaseModel, ConfigDict

from characterlab.analysis import bootstrap_mean, paired_permutation_test
from characterlab.characters import Character
from characterlab.models import chat_messages
from characterlab.scorers import EmbeddingModel, character_as_trait, judge_score, trait_rubric
from characterlab.stage import StageContext, render_chat_frame
from characterlab.training._records import PreferencePair, append_as_completed, read_records

__all__ = [
    "CONDITIONS",
    "Condition",
    "EvaluationPrompt",
    "EvaluationReply",
    "SetSummary",
    "evaluate",
    "evaluation_prompts",
    "summarize_evaluation",
    "unseen_contexts",
]

CONDITIONS = ("untrained", "prompted", "trained")
PromptSet = Literal["like training", "unseen contexts"]


class EvaluationPrompt(BaseModel):
    """A conversation the conditions answer (it ends with the user's turn)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    set: PromptSet
    kind: str
    """What kind of prompt: a trait id (like training), or ``domain``, ``tone``, ``language``, ``multi-turn``."""
    messages: list[dict[str, str]]


class EvaluationReply(BaseModel):
    """One condition's reply to one prompt, with its scores."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt_id: str
    set: PromptSet
    kind: str
    condition: str
    prompt: str = ""
    """The user's last message."""
    reply: str
    character_contrast: float
    judge: float | None = None
    """The judge's 0-100 score of how much the reply sounds like the character (``None``: no judge, or missing)."""


@dataclass(frozen=True)
class Condition:
    """A model and whether the character is staged for it."""

    name: str
    model: Model
    staged: bool


@dataclass(frozen=True)
class SetSummary:
    """One measure of one condition on one prompt set: its mean, interval and n, and the paired comparisons."""

    set: str
    measure: str
    condition: str
    mean: float
    low: float
    high: float
    n: int
    n_missing: int


def unseen_contexts() -> list[EvaluationPrompt]:
    """The packaged contexts training never shows (``training/data/unseen_contexts.yaml``)."""
    text = resources.files("characterlab.training").joinpath("data/unseen_contexts.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    return [
        EvaluationPrompt(id=item["id"], set="unseen contexts", kind=item["kind"], messages=item["messages"])
        for item in data["contexts"]
    ]


def evaluation_prompts(pairs: Sequence[PreferencePair]) -> list[EvaluationPrompt]:
    """The held-out prompts of the run (like training, never trained on), then the unseen contexts."""
    held_out = [
        EvaluationPrompt(
            id=pair.prompt_id,
            set="like training",
            kind=pair.trait or "file",
            messages=[{"role": "user", "content": pair.prompt}],
        )
        for pair in pairs
        if pair.split == "held_out"
    ]
    return [*held_out, *unseen_contexts()]


async def evaluate(
    character: Character,
    conditions: Sequence[Condition],
    prompts: Sequence[EvaluationPrompt],
    *,
    pairs: Sequence[PreferencePair],
    embedding: EmbeddingModel,
    path: Path,
    judge: Model | None = None,
    max_tokens: int = 128,
    temperature: float = 0.7,
    seed: int = 0,
) -> list[EvaluationReply]:
    """Have every condition answer every prompt (those not in ``path`` yet), score the replies, and return all.

    Args:
        character: The trained character.
        conditions: The models to compare (see :data:`CONDITIONS`).
        prompts: The prompts (:func:`evaluation_prompts`).
        pairs: The run's training pairs: their chosen and rejected replies (training split) are the two poles of
            the character contrast.
        embedding: The sentence embedding model of the contrast.
        path: The replies file (JSON Lines); replies already there are kept.
        judge: A judge asked how much each reply sounds like the character (``None``: judge-free only).
        max_tokens: Longest reply.
        temperature: Sampling temperature (each prompt's seed is the same in every condition).
        seed: Seed of the replies.
    """
    done = {(r.prompt_id, r.condition): r for r in read_records(path, EvaluationReply)}
    poles = _poles(pairs, embedding)
    rubric = trait_rubric(character_as_trait(character), character_name=character.display_name, seed=seed)
    frame = chat_messages(render_chat_frame(character, StageContext(examples="messages")))

    async def one(index: int, prompt: EvaluationPrompt, condition: Condition) -> EvaluationReply:
        history = _messages(prompt.messages)
        messages = [*frame, *history] if condition.staged else history
        config = GenerateConfig(max_tokens=max_tokens, temperature=temperature, seed=seed + index)
        output = await condition.model.generate(messages, config=config)
        reply = output.completion.strip()
        score = None
        if judge is not None:
            judged = await judge_score(judge, rubric, prompt.messages[-1]["content"], reply)
            score = None if math.isnan(judged.value) else judged.value
        return EvaluationReply(
            prompt_id=prompt.id,
            set=prompt.set,
            kind=prompt.kind,
            condition=condition.name,
            prompt=prompt.messages[-1]["content"],
            reply=reply,
            character_contrast=_contrast(reply, poles, embedding),
            judge=score,
        )

    jobs = [
        one(index, prompt, condition)
        for index, prompt in enumerate(prompts)
        for condition in conditions
        if (prompt.id, condition.name) not in done
    ]
    for reply in await append_as_completed(path, jobs):
        done[(reply.prompt_id, reply.condition)] = reply
    return [done[(p.id, c.name)] for p in prompts for c in conditions]


def summarize_evaluation(replies: Sequence[EvaluationReply]) -> tuple[list[SetSummary], list[dict[str, Any]]]:
    """Means with bootstrap intervals per set, measure and condition; and paired tests of ``trained`` against
    ``untrained`` and against ``prompted`` (sign-flip permutation, paired by prompt).

    Returns:
        The summaries, and one row per comparison: set, measure, comparison, mean difference, interval, p, n, test.
    """
    summaries: list[SetSummary] = []
    comparisons: list[dict[str, Any]] = []
    sets = list(dict.fromkeys(reply.set for reply in replies))
    for prompt_set in sets:
        for measure in ("character_contrast", "judge"):
            table: dict[str, dict[str, float]] = {}
            for reply in replies:
                if reply.set != prompt_set:
                    continue
                value = getattr(reply, measure)
                table.setdefault(reply.condition, {})[reply.prompt_id] = math.nan if value is None else float(value)
            if all(math.isnan(v) for values in table.values() for v in values.values()):
                continue
            for condition, values in table.items():
                estimate = bootstrap_mean(list(values.values()))
                summaries.append(
                    SetSummary(
                        prompt_set,
                        measure,
                        condition,
                        estimate.mean,
                        estimate.low,
                        estimate.high,
                        estimate.n,
                        estimate.n_missing,
                    )
                )
            trained = table.get("trained", {})
            for other in ("untrained", "prompted"):
                if other not in table or not trained:
                    continue
                ids = [prompt_id for prompt_id in trained if prompt_id in table[other]]
                test = paired_permutation_test([trained[i] for i in ids], [table[other][i] for i in ids])
                comparisons.append(
                    {
                        "set": prompt_set,
                        "measure": measure,
                        "comparison": f"trained − {other}",
                        "difference": test.mean_difference,
                        "low": test.low,
                        "high": test.high,
                        "p": test.p_value,
                        "n": test.n,
                        "test": test.test,
                    }
                )
    return summaries, comparisons


def _messages(messages: Sequence[dict[str, str]]) -> list[ChatMessage]:
    return [
        ChatMessageAssistant(content=m["content"])
        if m["role"] == "assistant"
        else ChatMessageUser(content=m["content"])
        for m in messages
    ]


def _poles(
    pairs: Sequence[PreferencePair], embedding: EmbeddingModel
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    train = [pair for pair in pairs if pair.split == "train" and pair.chosen.strip() and pair.rejected.strip()]
    if not train:
        train = [pair for pair in pairs if pair.chosen.strip() and pair.rejected.strip()]
    chosen = embedding.encode([pair.chosen for pair in train]).mean(axis=0)
    rejected = embedding.encode([pair.rejected for pair in train]).mean(axis=0)
    return chosen, rejected


def _contrast(reply: str, poles: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]], embedding: EmbeddingModel) -> float:
    vector = embedding.encode([reply or " "])[0]
    chosen, rejected = poles
    # Cosine to each pole's centroid: the centroids are not unit length, the reply is.
    return float(
        vector @ chosen / (np.linalg.norm(chosen) or 1.0) - vector @ rejected / (np.linalg.norm(rejected) or 1.0)
    )
