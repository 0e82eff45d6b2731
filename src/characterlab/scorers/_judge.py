"""The trait judge: a model rates, from 0 to 100, how strongly a reply shows one trait of a character.

The rubric is built from the trait itself: its description (what it is), its examples (what it looks like) and
its counterexamples (what it is not). The judge answers ``Score: <n>``. When the provider returns log-probabilities,
the score is the probability-weighted mean over the integers the judge considered for the number (Chen et al.,
2025, "Persona vectors"), which is smoother and less tied to one sampled token than the number it wrote; otherwise
the number is read from the text. A judge that gives no number, or one outside 0-100, yields NaN: a missing score,
never 0.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from inspect_ai.model import GenerateConfig, Logprob, Model

from characterlab.characters import Character, Exchange, Trait, substitute_macros

__all__ = [
    "JUDGE_CONFIG",
    "MIN_INTEGER_MASS",
    "JudgeMethod",
    "JudgeScore",
    "TraitRubric",
    "character_as_trait",
    "judge_score",
    "trait_rubric",
]

JudgeMethod = Literal["logprobs", "parsed", "missing"]
"""How a score was read: ``logprobs`` (probability-weighted mean over the integer tokens the judge considered),
``parsed`` (the number written in the reply), or ``missing`` (no usable number; the value is NaN)."""

JUDGE_CONFIG: Final = GenerateConfig(max_tokens=8, temperature=0, logprobs=True, top_logprobs=20)
"""How the judge is asked: greedy, short (``Score: 100`` fits), with the top 20 alternatives of every token."""

MIN_INTEGER_MASS: Final = 0.25
"""The least probability the integers 0-100 must hold among the alternatives for the number token for the weighted
mean to be used; below it the judge was mostly considering something other than a number, and the written number
is read instead."""

_SCORE_AFTER_LABEL = re.compile(r"score[\s*:=]*(-?\d+(?:[.,]\d+)?)", re.IGNORECASE)
"""``Score: 85``, ``**Score:** 85``, ``score=85``; the sign and a decimal part are captured so they can be refused."""
_SCORE_ALONE = re.compile(r"^[\s*_#\"'`]*(-?\d+(?:[.,]\d+)?)")
"""A number that opens the reply: ``85``, ``85.``, ``**85**``, ``85/100``."""
_INTEGER_TOKEN = re.compile(r"^\d{1,3}$")


@dataclass(frozen=True)
class TraitRubric:
    """What the judge is told about a trait: its description, examples and counterexamples, in a fixed order.

    Build one with :func:`trait_rubric`; :meth:`prompt` asks the judge about one reply.

    Attributes:
        trait_id: The trait's id.
        description: What the trait is, with ``{{char}}``/``{{user}}`` already replaced.
        examples: The trait's examples in the order they are shown (macros replaced).
        counterexamples: Its counterexamples in the order they are shown (macros replaced).
        example_order: For each shown example, its index in the trait's ``examples``.
        counterexample_order: For each shown counterexample, its index in the trait's ``counterexamples``.
        character_name: Whose trait it is, when known.
        seed: The seed that shuffled the order.
    """

    trait_id: str
    description: str
    examples: tuple[Exchange, ...]
    counterexamples: tuple[Exchange, ...]
    example_order: tuple[int, ...]
    counterexample_order: tuple[int, ...]
    character_name: str | None = None
    seed: int = 0

    def prompt(self, context: str, reply: str) -> str:
        """The judge's prompt for one reply.

        Args:
            context: What the reply answers (the user's message or the situation).
            reply: The reply to rate.

        Returns:
            A prompt that asks for one integer from 0 to 100, answered as ``Score: <n>``.
        """
        whose = f"{self.character_name}'s trait" if self.character_name else "a trait"
        lines = [
            f"You are rating how strongly a reply shows {whose} called {self.trait_id!r}.",
            "",
            f"The trait: {self.description}",
        ]
        if self.examples:
            lines += ["", "Replies that show the trait:"]
            lines += _exchange_lines(self.examples)
        if self.counterexamples:
            lines += ["", "Replies that do not show the trait:"]
            lines += _exchange_lines(self.counterexamples)
        lines += [
            "",
            "The reply to rate:",
            *_exchange_lines([Exchange(context=context or "(nothing)", response=reply or "(an empty reply)")]),
            "",
            "How strongly does this reply show the trait, from 0 (not at all) to 100 (as strongly as possible)? "
            "Judge only the trait, not the reply's quality. Answer with one integer, exactly in the form "
            '"Score: <n>", and nothing else.',
        ]
        return "\n".join(lines)


def character_as_trait(character: Character) -> Trait:
    """The whole character as one trait (summary, voice and traits; up to four examples each way), for a judge
    asked how much a reply sounds like the character rather than how strongly it shows one trait."""
    parts = [character.summary.strip(), character.voice.strip(), *(t.description.strip() for t in character.traits)]
    return Trait(
        id="character",
        description=" ".join(part for part in parts if part) or f"the character {character.display_name}",
        strength=1.0,
        examples=[example for trait in character.traits for example in trait.examples][:4],
        counterexamples=[example for trait in character.traits for example in trait.counterexamples][:4],
    )


def trait_rubric(trait: Trait, *, character_name: str | None = None, seed: int = 0) -> TraitRubric:
    """Build the judge's rubric for a trait.

    The examples and counterexamples are shown in an order shuffled by ``seed`` (so that the judge's position
    biases average out across seeds); the order is recorded in the rubric.

    Args:
        trait: The trait to judge.
        character_name: Whose trait it is; replaces ``{{char}}`` in the trait's texts ("the character" if unset).
        seed: Seed of the presentation order.

    Returns:
        The rubric.
    """
    rng = random.Random(seed)
    example_order = list(range(len(trait.examples)))
    rng.shuffle(example_order)
    counterexample_order = list(range(len(trait.counterexamples)))
    rng.shuffle(counterexample_order)
    char = character_name or "the character"

    def filled(exchange: Exchange) -> Exchange:
        return Exchange(
            context=substitute_macros(exchange.context, char=char, user="the user"),
            response=substitute_macros(exchange.response, char=char, user="the user"),
        )

    return TraitRubric(
        trait_id=trait.id,
        description=substitute_macros(trait.description, char=char, user="the user"),
        examples=tuple(filled(trait.examples[index]) for index in example_order),
        counterexamples=tuple(filled(trait.counterexamples[index]) for index in counterexample_order),
        example_order=tuple(example_order),
        counterexample_order=tuple(counterexample_order),
        character_name=character_name,
        seed=seed,
    )


@dataclass(frozen=True)
class JudgeScore:
    """A judge's 0-100 score of one reply.

    Attributes:
        value: The score in [0, 100]; NaN when the judge gave no usable number.
        method: How it was read (see :data:`JudgeMethod`).
        raw: The judge's reply as written.
        reason: Why the weighted mean was not used (``parsed``) or why there is no score (``missing``); ``None``
            for ``logprobs``.
        mass: The probability the integers 0-100 held among the number token's alternatives; NaN when the
            provider returned no log-probabilities or the reply had no number.
    """

    value: float
    method: JudgeMethod
    raw: str
    reason: str | None = None
    mass: float = math.nan


async def judge_score(model: Model, rubric: TraitRubric, context: str, reply: str) -> JudgeScore:
    """Ask a judge how strongly a reply shows a trait, from 0 to 100.

    The judge is asked with :data:`JUDGE_CONFIG`. The weighted mean over log-probabilities is used when the reply's
    number is one token whose alternatives are integers holding at least :data:`MIN_INTEGER_MASS` of the
    probability. Otherwise the number is parsed from the text: the first number after ``Score:``, or a number that
    opens the reply. Tokenizers that split numbers into digits (SmolLM2, Gemma, Llama 2) make the first token a
    digit, not the number; such replies are parsed rather than averaged over digits.

    Args:
        model: The judge, from ``get_model(...)``.
        rubric: The trait's rubric (:func:`trait_rubric`).
        context: What the reply answers.
        reply: The reply to rate.

    Returns:
        The score; ``value`` is NaN (``method="missing"``) for a refusal, no number, a fraction or a number outside
        0-100.
    """
    output = await model.generate(rubric.prompt(context, reply), config=JUDGE_CONFIG)
    raw = output.completion
    parsed, problem = _parse_score(raw)
    if parsed is None:
        return JudgeScore(value=math.nan, method="missing", raw=raw, reason=problem)
    logprobs = output.choices[0].logprobs if output.choices else None
    if logprobs is None or not logprobs.content:
        reason = "the judge returned no log-probabilities"
        return JudgeScore(value=float(parsed), method="parsed", raw=raw, reason=reason)
    weighted = _weighted_mean(logprobs.content, parsed)
    if isinstance(weighted, str):
        return JudgeScore(value=float(parsed), method="parsed", raw=raw, reason=weighted)
    value, mass = weighted
    if mass < MIN_INTEGER_MASS:
        return JudgeScore(
            value=float(parsed),
            method="parsed",
            raw=raw,
            reason=f"integers held {mass:.0%} of the number token's probability (less than {MIN_INTEGER_MASS:.0%})",
            mass=mass,
        )
    return JudgeScore(value=value, method="logprobs", raw=raw, mass=mass)


def _parse_score(text: str) -> tuple[int | None, str]:
    """The integer the judge wrote, or ``None`` and what was wrong."""
    match = _SCORE_AFTER_LABEL.search(text) or _SCORE_ALONE.match(text)
    if match is None:
        shown = text.strip()[:80] or "an empty reply"
        return None, f"no score in the judge's reply ({shown!r})"
    number = match.group(1)
    if not number.lstrip("-").isdigit():
        return None, f"expected an integer from 0 to 100, got {number!r}"
    value = int(number)
    if not 0 <= value <= 100:
        return None, f"expected an integer from 0 to 100, got {value}"
    return value, ""


def _weighted_mean(content: Sequence[Logprob], parsed: int) -> tuple[float, float] | str:
    """The probability-weighted mean over integer alternatives of the number token and their total probability,
    or why it cannot be used."""
    position = next(
        (
            index
            for index, entry in enumerate(content)
            if _INTEGER_TOKEN.match(entry.token.strip())
            and int(entry.token.strip()) == parsed
            and not (index + 1 < len(content) and content[index + 1].token[:1].isdigit())
        ),
        None,
    )
    if position is None:
        return f"the number {parsed} is not one token of the reply (a tokenizer that splits numbers into digits)"
    chosen = content[position]
    alternatives = chosen.top_logprobs or []
    candidates = [(entry.token, entry.logprob) for entry in alternatives] or [(chosen.token, chosen.logprob)]
    probabilities: dict[int, float] = {}
    for token, logprob in candidates:
        stripped = token.strip()
        if _INTEGER_TOKEN.match(stripped) and int(stripped) <= 100:
            # " 85" and "85" are the same number written with and without a leading space.
            probabilities[int(stripped)] = probabilities.get(int(stripped), 0.0) + math.exp(logprob)
    if len(chosen.token.strip()) == 1 and len(probabilities) > 1 and all(number < 10 for number in probabilities):
        # Only single digits in sight: they may be first digits of longer numbers ("8" of "85"), not numbers.
        return "all the integer alternatives are single digits (a tokenizer that may split numbers into digits)"
    mass = sum(probabilities.values())
    if mass <= 0.0:
        return "no integer among the number token's alternatives"
    return sum(number * p for number, p in probabilities.items()) / mass, mass


def _exchange_lines(exchanges: Sequence[Exchange]) -> list[str]:
    lines: list[str] = []
    for exchange in exchanges:
        lines += [f"- Context: {_one_line(exchange.context)}", f"  Reply: {_one_line(exchange.response)}"]
    return lines


def _one_line(text: str) -> str:
    # Newlines inside a quoted reply would break the rubric's layout; the judge reads them as spaces just as well.
    return " ".join(text.split())
