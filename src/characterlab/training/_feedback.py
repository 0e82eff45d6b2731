"""AI feedback: a judge reads each preference pair and says which reply is more consistent with the character.

The judge sees the character, the rubric of the trait the prompt was written for (its description, examples and
counterexamples), and, for a corpus-grounded character, the passages of the corpus nearest the prompt. It is asked
for one letter; the letters' probabilities are read (option scoring), in both presentation orders, so that a judge
that prefers a position does not decide. A pair is kept when the chosen reply wins by ``min_margin``; every
verdict, kept or not, is written with its reason.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from pathlib import Path

from inspect_ai.model import ChatMessageUser, GenerateConfig, Model

from characterlab.characters import Character, Corpus, Exchange
from characterlab.errors import CapabilityError
from characterlab.models import score_options
from characterlab.training._records import PairVerdict, PreferencePair, append_as_completed, read_records

__all__ = ["judge_pairs", "pair_prompt", "with_margin"]

_LETTER = re.compile(r"\b([AB])\b")


def pair_prompt(character: Character, pair: PreferencePair, first: str, second: str, passages: Sequence[str]) -> str:
    """The judge's question about one pair, with the replies in the order given."""
    lines = [
        f"You are checking which of two replies is more consistent with the character {character.display_name}.",
    ]
    if character.summary:
        lines += ["", f"Who they are: {character.summary.strip()}"]
    if character.voice:
        lines += [f"How they speak: {character.voice.strip()}"]
    if pair.trait is not None:
        trait = character.trait(pair.trait)
        lines += ["", f"The trait this message draws out: {trait.description.strip()}"]
        lines += _exchanges("Replies that show the trait", trait.examples)
        lines += _exchanges("Replies that do not show it", trait.counterexamples)
    else:
        traits = "; ".join(trait.description.strip() for trait in character.traits)
        if traits:
            lines += ["", f"Their traits: {traits}"]
    if passages:
        lines += ["", f"Passages {character.display_name} wrote, the most relevant first:"]
        lines += [f"- {passage.strip()}" for passage in passages]
    lines += [
        "",
        f"The user's message: {pair.prompt.strip()}",
        "",
        f"Reply A: {first.strip() or '(empty)'}",
        "",
        f"Reply B: {second.strip() or '(empty)'}",
        "",
        f"Which reply is more consistent with {character.display_name}"
        + (" and with what they wrote" if passages else "")
        + "? Answer with one letter, A or B.",
    ]
    return "\n".join(lines)


async def judge_pairs(
    character: Character,
    pairs: Sequence[PreferencePair],
    *,
    judge: Model,
    path: Path,
    min_margin: float = 0.2,
    corpus: Corpus | None = None,
    passages_per_pair: int = 3,
    rationale: bool = True,
) -> list[PairVerdict]:
    """Judge every pair that has no verdict in ``path`` yet; return the verdicts of all ``pairs``, in order.

    Args:
        character: The character the chosen replies should be consistent with.
        pairs: The pairs to judge.
        judge: The judge model (option-scored where it gives log-probabilities; its letter is parsed otherwise).
        path: The run's verdicts file (JSON Lines); verdicts already there are kept.
        min_margin: How much the chosen reply must win by, as ``P(chosen) - P(rejected)`` in [-1, 1].
        corpus: The character's corpus, for corpus-grounded characters.
        passages_per_pair: Passages retrieved per prompt from the corpus.
        rationale: Also ask the judge to say why, in a sentence (stored with the verdict).
    """
    done = {verdict.prompt_id: with_margin(verdict, min_margin) for verdict in read_records(path, PairVerdict)}

    async def one(pair: PreferencePair) -> PairVerdict:
        passages = [p.text for p in corpus.search(pair.prompt, k=passages_per_pair)] if corpus else []
        if not pair.chosen.strip():
            return _dropped(pair, "the teacher's reply is empty", passages)
        if pair.chosen.strip() == pair.rejected.strip():
            return _dropped(pair, "the two replies are the same", passages)
        forward = pair_prompt(character, pair, pair.chosen, pair.rejected, passages)
        backward = pair_prompt(character, pair, pair.rejected, pair.chosen, passages)
        first, second = await asyncio.gather(_p_first(judge, forward), _p_first(judge, backward))
        why = await _rationale(judge, forward) if rationale else ""
        if first is None or second is None:
            return PairVerdict(
                prompt_id=pair.prompt_id,
                p_chosen=None,
                margin=None,
                kept=False,
                reason="the judge gave no usable answer",
                rationale=why,
                passages=passages,
            )
        p_chosen = (first + (1.0 - second)) / 2.0
        verdict = PairVerdict(
            prompt_id=pair.prompt_id,
            p_chosen=p_chosen,
            margin=2.0 * p_chosen - 1.0,
            kept=False,
            reason="",
            rationale=why,
            passages=passages,
        )
        return with_margin(verdict, min_margin)

    todo = [pair for pair in pairs if pair.prompt_id not in done]
    for verdict in await append_as_completed(path, [one(pair) for pair in todo]):
        done[verdict.prompt_id] = verdict
    return [done[pair.prompt_id] for pair in pairs]


async def _p_first(judge: Model, prompt: str) -> float | None:
    """The probability the judge answers A rather than B; from its written letter when it gives no log-probs."""
    try:
        scores = await score_options(judge, [ChatMessageUser(content=prompt)], ["A", "B"])
        return scores.probabilities[0]
    except CapabilityError:
        output = await judge.generate(prompt, config=GenerateConfig(max_tokens=4, temperature=0.0))
        found = _LETTER.search(output.completion)
        return None if found is None else (1.0 if found.group(1) == "A" else 0.0)


async def _rationale(judge: Model, prompt: str) -> str:
    output = await judge.generate(
        prompt + " Then say why, in one sentence.", config=GenerateConfig(max_tokens=80, temperature=0.0)
    )
    return output.completion.strip()


def with_margin(verdict: PairVerdict, min_margin: float) -> PairVerdict:
    """The verdict kept or dropped by ``min_margin`` (a verdict without a margin stays as it is), with its reason.

    The judge's margins do not depend on the threshold, so a run can change it without asking the judge again.
    """
    margin = verdict.margin
    if margin is None:
        return verdict
    if margin >= min_margin:
        reason = f"kept: the chosen reply wins by {margin:+.2f}"
    elif margin < 0:
        reason = f"the judge preferred the default reply ({margin:+.2f})"
    else:
        reason = f"too close: the chosen reply wins by {margin:+.2f}, less than {min_margin:.2f}"
    return verdict.model_copy(update={"kept": margin >= min_margin, "reason": reason})


def _dropped(pair: PreferencePair, reason: str, passages: list[str]) -> PairVerdict:
    return PairVerdict(
        prompt_id=pair.prompt_id, p_chosen=None, margin=None, kept=False, reason=reason, passages=passages
    )


def _exchanges(title: str, exchanges: Sequence[Exchange]) -> list[str]:
    if not exchanges:
        return []
    return [f"{title}:"] + [f'- to "{e.context.strip()}": "{e.response.strip()}"' for e in exchanges]
