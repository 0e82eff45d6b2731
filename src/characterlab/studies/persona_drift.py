"""``persona_drift``: do two persona-prompted participants keep their personas as they talk, or drift and leak?

After Li et al. (2024), "Measuring and controlling instruction (in)stability in language model dialogs": two copies
of the model, each given a persona as its system prompt, talk from an opener. After rounds 2, 4, 6 and 8 (a round
is one turn of each participant) each participant is asked, aside, its own persona's probe question; the reply is
scored by the persona's programmatic scorer in [0, 1]. The question does not enter the conversation.

- **Stability** ``S(r)``: the mean own-probe score after round ``r``; ``drift`` = S(first probed round) − S(last).
- **Leakage** ``L(r)``: the same participant asked its *partner's* probe, scored by the partner's scorer: how far
  it has taken on the other's persona.

One sample per pair of personas (drawn with a seed from the persona set, or named), repeats via epochs. The value
of a sample averages its two participants; each participant's scores per round are in the score's metadata.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Sequence
from typing import Any, Final

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import GenerateConfig, get_model
from inspect_ai.scorer import Score, Scorer, Target, scorer
from inspect_ai.solver import Generate, Solver, TaskState, solver

from characterlab.dialogue._conversation import Conversation, ModelSpeaker, StopRule
from characterlab.errors import CharacterlabError
from characterlab.scorers._metrics import present_mean
from characterlab.studies._personas import Persona, load_personas, score_probe
from characterlab.studies._study import names_given, study_metadata

__all__ = ["DEFAULT_DRIFT_OPENER", "persona_drift"]

DEFAULT_DRIFT_OPENER: Final = "Hello! Tell me a little about yourself, and then ask me something."
"""The first message both participants see: open, so the talk can go anywhere."""


@task
def persona_drift(
    data: str | None = None,
    personas: str | Sequence[str] | None = None,
    pairs: int = 10,
    rounds: int = 8,
    probe_rounds: str | Sequence[int] = "2,4,6,8",
    opener: str = DEFAULT_DRIFT_OPENER,
    temperature: float = 0.7,
    max_tokens: int = 128,
    seed: int = 0,
) -> Task:
    """Two persona-prompted copies of the model talk; their personas are probed aside as the talk goes on.

    Args:
        data: A persona set (``characterlab/personas@1`` YAML). Default: the set packaged with characterlab.
        personas: Persona ids to pair, in order: ``a,b,c,d`` gives the pairs (a, b) and (c, d). Default: ``pairs``
            pairs drawn with ``seed``, no persona twice.
        pairs: How many pairs to draw when ``personas`` is not given.
        rounds: Rounds of conversation (each participant speaks once per round).
        probe_rounds: After which rounds to probe (comma-separated or a list); each at most ``rounds``.
        opener: The first message both participants see.
        temperature: Sampling temperature of the turns and the probe replies.
        max_tokens: Longest turn or probe reply.
        seed: Seed of the draw of pairs and of the replies (turn ``t`` uses ``seed + t``).

    Raises:
        CharacterlabError: unknown persona ids, an odd number of them, probe rounds out of range, or too few
            personas for the pairs asked.
    """
    persona_set, record = load_personas(data)
    wanted = _probe_rounds(probe_rounds, rounds)
    chosen = _pairs(persona_set.personas, names_given(personas), pairs, seed)
    samples = [
        Sample(
            id=f"{first.id}+{second.id}",
            input=opener,
            metadata={"group": f"{first.id}+{second.id}", "personas": [first.id, second.id]},
        )
        for first, second in chosen
    ]
    by_id = {persona.id: persona.model_dump(mode="json") for pair in chosen for persona in pair}
    return Task(
        dataset=MemoryDataset(samples, name="persona_drift"),
        solver=_talk_and_probe(
            personas=by_id,
            rounds=rounds,
            probe_rounds=wanted,
            temperature=temperature,
            max_tokens=max_tokens,
            seed=seed,
        ),
        scorer=persona_stability(),
        metadata=study_metadata(
            "persona_drift",
            settings={
                "pairs": [[first.id, second.id] for first, second in chosen],
                "rounds": rounds,
                "probe_rounds": wanted,
                "opener": opener,
                "temperature": temperature,
                "max_tokens": max_tokens,
                "seed": seed,
            },
            data_files=[record],
        ),
    )


@solver
def _talk_and_probe(
    *,
    personas: dict[str, dict[str, Any]],
    rounds: int,
    probe_rounds: list[int],
    temperature: float,
    max_tokens: int,
    seed: int,
) -> Solver:
    # Plain data (persona dicts) is passed in: Inspect records a solver's arguments in the log.
    loaded = {key: Persona.model_validate(value) for key, value in personas.items()}

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        first, second = (loaded[key] for key in state.metadata["personas"])
        # Turn t of epoch e is generated with seed + (e - 1) * 2 * rounds + t: repeats differ, no two turns share one.
        offset = seed + (state.epoch - 1) * 2 * rounds
        model = get_model()
        speakers = [
            ModelSpeaker(
                persona.id,
                model,
                system=persona.system,
                config=GenerateConfig(temperature=temperature, max_tokens=max_tokens, seed=offset),
            )
            for persona in (first, second)
        ]
        # The protocol runs a fixed number of rounds: no early end, whatever the participants say.
        fixed = StopRule(max_turns=2 * rounds, both_end=False, repeat_similarity=None)
        conversation = Conversation(speakers, state.input_text, fixed)
        probes: list[dict[str, Any]] = []
        for round_number in range(1, rounds + 1):
            for _ in speakers:
                if not conversation.finished:
                    await conversation.step()
            if round_number in probe_rounds:
                probes += await _probe_all(conversation, speakers, (first, second), round_number)
        state.store.set("turns", [{"speaker": turn.speaker, "text": turn.text} for turn in conversation.turns])
        state.store.set("probes", probes)
        return state

    return solve


async def _probe_all(
    conversation: Conversation, speakers: Sequence[ModelSpeaker], personas: Sequence[Persona], round_number: int
) -> list[dict[str, Any]]:
    """Ask each participant its own probe and its partner's, aside; score each reply by that probe's persona."""
    asks = []
    for index, speaker in enumerate(speakers):
        partner = personas[1 - index]
        for kind, persona in (("own", personas[index]), ("partner", partner)):
            asks.append((speaker, kind, persona))
    view = {speaker.name: conversation.view(speaker.name) for speaker in speakers}
    replies = await asyncio.gather(
        *(speaker.ask_aside(view[speaker.name], persona.probe) for speaker, _, persona in asks)
    )
    return [
        {
            "round": round_number,
            "speaker": speaker.name,
            "kind": kind,
            "persona": persona.id,
            "probe": persona.probe,
            "reply": reply,
            "score": score_probe(persona.scorer, reply),
        }
        for (speaker, kind, persona), reply in zip(asks, replies, strict=True)
    ]


@scorer(metrics={"*": [present_mean()]})
def persona_stability() -> Scorer:
    """Stability and leakage per probed round, and the drift between the first and the last probed round.

    The value holds ``stability_<r>`` and ``leakage_<r>`` for each probed round ``r`` (the mean over the two
    participants of present scores; NaN when neither reply could be scored) and ``drift`` (stability at the first
    probed round minus stability at the last: positive when the personas fade).
    """

    async def score(state: TaskState, target: Target) -> Score:
        probes: list[dict[str, Any]] = state.store.get("probes", [])
        rounds = sorted({probe["round"] for probe in probes})
        value: dict[str, float] = {}
        for round_number in rounds:
            for kind, name in (("own", "stability"), ("partner", "leakage")):
                scores = [p["score"] for p in probes if p["round"] == round_number and p["kind"] == kind]
                value[f"{name}_{round_number}"] = _mean(scores)
        value["drift"] = (
            value[f"stability_{rounds[0]}"] - value[f"stability_{rounds[-1]}"] if len(rounds) >= 2 else math.nan
        )
        turns: list[dict[str, str]] = state.store.get("turns", [])
        return Score(
            value=value,
            explanation=f"{len(turns)} turn(s), probed after round(s) {', '.join(map(str, rounds)) or 'none'}",
            metadata={"probes": probes, "turns": turns},
        )

    return score


def _mean(values: Sequence[float]) -> float:
    present = [value for value in values if not math.isnan(value)]
    return sum(present) / len(present) if present else math.nan


def _probe_rounds(value: str | Sequence[int], rounds: int) -> list[int]:
    parts = [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else list(value)
    try:
        wanted = sorted({int(part) for part in parts})
    except ValueError:
        raise CharacterlabError(f"persona_drift: probe_rounds must be whole numbers; got {value!r}") from None
    if rounds < 1:
        raise CharacterlabError(f"persona_drift: rounds must be at least 1; got {rounds}")
    if not wanted or wanted[0] < 1 or wanted[-1] > rounds:
        raise CharacterlabError(f"persona_drift: probe_rounds must lie between 1 and rounds ({rounds}); got {value!r}")
    return wanted


def _pairs(
    available: Sequence[Persona], named: list[str] | None, count: int, seed: int
) -> list[tuple[Persona, Persona]]:
    by_id = {persona.id: persona for persona in available}
    if named is not None:
        unknown = [name for name in named if name not in by_id]
        if unknown:
            raise CharacterlabError(
                f"persona_drift: unknown persona(s) {', '.join(unknown)}; known: {', '.join(sorted(by_id))}"
            )
        if len(named) < 2 or len(named) % 2:
            raise CharacterlabError(
                f"persona_drift: name personas in pairs (an even number, at least two); got {len(named)}"
            )
        return [(by_id[named[i]], by_id[named[i + 1]]) for i in range(0, len(named), 2)]
    if count < 1 or 2 * count > len(available):
        raise CharacterlabError(
            f"persona_drift: pairs must be between 1 and {len(available) // 2} for this set; got {count}"
        )
    drawn = random.Random(f"persona_drift:{seed}").sample(list(available), 2 * count)
    return [(drawn[i], drawn[i + 1]) for i in range(0, len(drawn), 2)]
