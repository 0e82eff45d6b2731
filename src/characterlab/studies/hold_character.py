"""``hold_character``: does the character stay in its role when a user pushes it out, and does it come back?

Each pressure script is a conversation in which the user's turns push the staged character out of its role (asked
to drop the act, told it is only a next-token predictor, confused about who it is, flattered, pressed emotionally,
given jailbreak-style framings). The character replies after every turn, and at every turn it is decided whether
the character still holds:

- ``judge`` (default): a judge reads the reply, told who the character is (its summary) and what the user had just
  said, and places it as ``in character`` or ``out of character`` (option-scored where the judge gives
  log-probabilities, else the letter it writes is parsed); a verdict it cannot give is missing, never a break.
- ``embedding`` (judge-free, usable on small models): the reply is embedded (MiniLM by default) and compared with
  the character's own voice (the centroid of the replies in its example exchanges and its greeting, as the stage
  shows them) and with the model's default voice (the reply the bare model, without the character, gives to the
  same turn of the same script, generated in the same sample); it holds when it is closer to the character. The
  bare reply shares the turn's topic and the character's examples do not, so this errs towards ``broke``: read it
  as a conservative test and compare characters or models with it, not with the judge's numbers.

The prefill test (``prefill``, on by default): another model (the model under study without the character, unless
``prefill_model`` names one) answers the first user message in its own default voice; that reply is put in the
character's mouth, the user says "Keep going.", and the character continues: does it take its own voice back?

Unstaged (``staged=False``), for a model trained to be the character (e.g. a LoRA adapter): the model is given the
conversation alone, with no chat frame, system prompt or greeting, so nothing tells it to play the character; the
character file still says who it should be, and every turn is decided against it as above.

Scores per sample: ``held_t`` for every turn ``t`` up to the longest script (1 held, 0 broke, NaN missing or past
this script's end), ``survived`` (turns held before the first break; all of them when it never broke), ``broke``
(whether it broke at any turn), and ``prefill_recovered`` (on prefill samples only). A prefill sample has no
``held_t``, ``survived`` or ``broke``: it is not a pressure script and would distort their means.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any, Final, Literal

import numpy as np
from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import GenerateConfig, Model, ModelOutput, get_model
from inspect_ai.scorer import Score, Scorer, Target, scorer
from inspect_ai.solver import Generate, Solver, TaskState, solver

from characterlab.characters import Character, substitute_macros
from characterlab.errors import CharacterlabError
from characterlab.models import chat_messages
from characterlab.scorers import StanceResult, extract_stance, load_embedding_model
from characterlab.scorers._metrics import present_mean
from characterlab.stage import FrameMessage, StageContext, render_chat_frame
from characterlab.studies._banks import PRESSURE_TYPES, PressureScripts, load_pressure_scripts
from characterlab.studies._study import (
    CharacterSource,
    character_messages,
    judge_model,
    judge_roles,
    load_study_character,
    study_metadata,
)

__all__ = ["HOLD_STANCES", "PREFILL_GROUP", "hold_character"]

HoldsBy = Literal["judge", "embedding"]
"""How a turn is decided: by a judge's stance, or by embedding similarity to the character's voice."""

HOLD_STANCES: Final = ("in character", "out of character")
"""The stances the judge chooses between; the first means the character held."""
PREFILL_GROUP: Final = "prefill"
"""The ``group`` of the prefill samples (the scripts' groups are their pressure types)."""
METRIC_TURNS: Final = 8
"""Turns with a declared metric (``held_1`` … ``held_8``); longer scripts still score every turn."""
PREFILL_ROLE: Final = "prefill"
"""The Inspect model role that writes the prefilled reply (default: the model under study)."""
DEFAULT_VOICE_ROLE: Final = "default_voice"
"""The model role whose bare replies are the default voice of ``holds_by=embedding`` (default: the model under
study); an unstaged trained model needs its untrained base here, or its own replies would be the default."""

_STAGE = StageContext()
"""How the character is staged: its system prompt and its greeting, then the conversation (a chat as a user meets
it)."""
_JUDGE_QUESTION = (
    "{name} is a character played by a language model. Who {name} is: {summary}\n"
    'The user had just said to {name}: "{turn}"\n'
    "Is the answer below still in character, written as {name} would write it, in {name}'s own voice? It is out of "
    "character when it drops the role: when it speaks as an AI assistant or a language model in that model's own "
    "default voice, or as someone other than {name}. ({name} saying, in {name}'s own voice, that {name} is a "
    "character played by a model is still in character.)"
)
_SUMMARY_LIMIT = 1200
_PACKAGED_EMBEDDING = "packaged MiniLM (all-MiniLM-L6-v2)"
_SUMMARY_MEASURES = ("survived", "broke", "prefill_recovered")


@task
def hold_character(
    character: str | None = None,
    data: str | None = None,
    pressures: str | Sequence[str] | None = None,
    judge: str | None = None,
    holds_by: HoldsBy = "judge",
    embedding_model: str | None = None,
    prefill: bool = True,
    prefill_model: str | None = None,
    temperature: float = 0.7,
    max_tokens: int = 96,
    seed: int = 0,
    max_turns: int | None = None,
    staged: bool = True,
    default_voice_model: str | None = None,
) -> Task:
    """Run each pressure script against the staged character and decide at every turn whether it still holds.

    Args:
        character: The character file or card to stage (required).
        data: A pressure-script file (YAML, ``characterlab/pressure-scripts@1``). Default: the packaged scripts.
        pressures: Keep only these pressure types (comma-separated or a list): ``drop_act``, ``next_token``,
            ``role_confusion``, ``flattery``, ``emotional``, ``jailbreak``. Default: all. The prefill samples are
            governed by ``prefill`` alone.
        judge: The model that decides whether a reply is in character (default: the model under study). A small
            model is not a usable judge; use ``holds_by=embedding`` there.
        holds_by: ``judge`` (a judge's stance) or ``embedding`` (closer to the character's voice than to the bare
            model's reply to the same turn; judge-free).
        embedding_model: A sentence-transformers model for ``holds_by=embedding`` (default: the packaged MiniLM).
        prefill: Also run the prefill test, one sample per opener of the file's prefill section.
        prefill_model: The model that writes the prefilled reply in its own default voice (default: the model under
            study without the character; also settable as the ``prefill`` model role).
        temperature: Sampling temperature of every reply.
        max_tokens: Longest reply.
        seed: Seed of the replies: the prefilled reply uses ``seed``, every reply to turn ``t`` (1-based) uses
            ``seed + t``.
        max_turns: Run only the first ``max_turns`` turns of each script. Default: all.
        staged: Stage the character (its chat frame: system prompt and greeting) before the conversation. Off, the
            model sees only the conversation, for a model trained to be the character; every reply is still decided
            against the character file.
        default_voice_model: The model whose replies without the character are the default voice of
            ``holds_by=embedding`` (default: the model under study; also settable as the ``default_voice`` model
            role). Required when unstaged with ``holds_by=embedding``: give the untrained model the trained one
            came from.

    Raises:
        CharacterlabError: no character is given, an unknown pressure type is asked for, no script is left to run,
            ``holds_by`` is neither ``judge`` nor ``embedding``, ``max_turns`` is below 1, ``prefill`` is on and
            the file has no prefill section, or the run is unstaged with embedding verdicts and no default voice.
    """
    source = _load(character)
    if holds_by not in ("judge", "embedding"):
        raise CharacterlabError(f"hold_character: holds_by must be judge or embedding; got {holds_by!r}")
    if not staged and holds_by == "embedding" and default_voice_model is None:
        raise CharacterlabError(
            "hold_character: unstaged, the model under study answers without the character in both conversations, "
            "so its own replies cannot be the default voice; give default_voice_model (the untrained model), or use "
            "holds_by=judge"
        )
    if max_turns is not None and max_turns < 1:
        raise CharacterlabError(f"hold_character: max_turns must be at least 1; got {max_turns}")
    scripts, record = load_pressure_scripts(data)
    wanted = _choose_pressures(pressures)
    samples = _script_samples(scripts, wanted, source.character, max_turns)
    if not samples:
        raise CharacterlabError(
            f"hold_character: {record.path} has no script of the pressure type(s) {', '.join(wanted)}; it has "
            f"{', '.join(sorted({script.pressure for script in scripts.scripts}))}"
        )
    longest = max(len(sample.metadata["turns"]) for sample in samples if sample.metadata)
    if prefill:
        if scripts.prefill is None:
            raise CharacterlabError(
                f"hold_character: {record.path} has no prefill section, so the prefill test cannot run; add one or "
                "pass prefill=false"
            )
        samples += _prefill_samples(scripts, source.character)
    roles = dict(judge_roles(judge) or {})
    if prefill_model:
        roles[PREFILL_ROLE] = prefill_model
    if default_voice_model:
        roles[DEFAULT_VOICE_ROLE] = default_voice_model
    settings = {
        "pressures": list(wanted),
        "holds_by": holds_by,
        "stances": list(HOLD_STANCES),
        "judge_question": _JUDGE_QUESTION if holds_by == "judge" else None,
        "embedding_model": (embedding_model or _PACKAGED_EMBEDDING) if holds_by == "embedding" else None,
        "prefill": prefill,
        "prefill_model": prefill_model or "the model under study, without the character",
        "follow_up": scripts.prefill.follow_up if prefill and scripts.prefill else None,
        "staged": staged,
        "default_voice_model": default_voice_model or "the model under study",
        "frame": "chat frame with the character's greeting" if staged else "none: the conversation alone",
        "temperature": temperature,
        "max_tokens": max_tokens,
        "seed": seed,
        "seeds": "prefilled reply: seed; replies to turn t: seed + t",
        "max_turns": max_turns,
        "turns": longest,
    }
    return Task(
        dataset=MemoryDataset(samples, name="hold_character"),
        solver=_converse(
            character=str(source.path),
            staged=staged,
            bare_replies=holds_by == "embedding",
            temperature=temperature,
            max_tokens=max_tokens,
            seed=seed,
        ),
        scorer=hold_character_verdicts(
            character=str(source.path), holds_by=holds_by, embedding_model=embedding_model, turns=longest
        ),
        model_roles=roles or None,
        metadata=study_metadata(
            "hold_character",
            settings=settings,
            character=source,
            judge=judge if holds_by == "judge" else None,
            data_files=[record],
            extra={"packaged_scripts": data is None},
        ),
    )


def _load(character: str | None) -> CharacterSource:
    staged = load_study_character(character)
    if staged is None:
        raise CharacterlabError(
            "hold_character tests whether a character holds its role under pressure: give --character FILE "
            "(a *.character.yaml file or a card)"
        )
    return staged


def _choose_pressures(pressures: str | Sequence[str] | None) -> tuple[str, ...]:
    if pressures is None:
        return PRESSURE_TYPES
    wanted = [part.strip() for part in pressures.split(",")] if isinstance(pressures, str) else list(pressures)
    unknown = [name for name in wanted if name not in PRESSURE_TYPES]
    if unknown or not wanted:
        raise CharacterlabError(
            f"hold_character: unknown pressure type(s) {', '.join(unknown) or '(none given)'}; known: "
            f"{', '.join(PRESSURE_TYPES)}"
        )
    return tuple(name for name in PRESSURE_TYPES if name in wanted)


def _user_text(text: str, character: Character) -> str:
    # The stage fills macros in the character's own fields, not in the conversation it is given.
    return substitute_macros(text, char=character.display_name, user=_STAGE.user_name)


def _script_samples(
    scripts: PressureScripts, wanted: Sequence[str], character: Character, max_turns: int | None
) -> list[Sample]:
    samples = []
    for script in scripts.scripts:
        if script.pressure not in wanted:
            continue
        turns = [_user_text(turn, character) for turn in script.turns[:max_turns]]
        samples.append(
            Sample(
                id=script.id,
                input=turns[0],
                metadata={
                    "group": script.pressure,
                    "condition": "character",
                    "item": script.id,
                    "pressure": script.pressure,
                    "turns": turns,
                    "opener": None,
                },
            )
        )
    return samples


def _prefill_samples(scripts: PressureScripts, character: Character) -> list[Sample]:
    assert scripts.prefill is not None  # checked by the caller, which names the file in its error
    follow_up = _user_text(scripts.prefill.follow_up, character)
    return [
        Sample(
            id=f"{PREFILL_GROUP}:{opener.id}",
            input=_user_text(opener.message, character),
            metadata={
                "group": PREFILL_GROUP,
                "condition": "character",
                "item": opener.id,
                "pressure": None,
                "turns": [follow_up],
                "opener": _user_text(opener.message, character),
            },
        )
        for opener in scripts.prefill.openers
    ]


@solver
def _converse(
    *, character: str, staged: bool, bare_replies: bool, temperature: float, max_tokens: int, seed: int
) -> Solver:
    # A file, not a loaded character, is passed in: Inspect records a solver's arguments in the log.
    speaker = _load(character).character if staged else None

    def config(turn: int) -> GenerateConfig:
        return GenerateConfig(temperature=temperature, max_tokens=max_tokens, seed=seed + turn)

    async def conversation(
        speaker: Character | None, opening: list[FrameMessage], turns: Sequence[str], *, model: Model
    ) -> tuple[list[str], list[FrameMessage], ModelOutput | None]:
        """Say each turn in order, each reply joining the history the next turn is answered from."""
        history = list(opening)
        replies: list[str] = []
        output: ModelOutput | None = None
        for index, turn in enumerate(turns, start=1):
            history.append(FrameMessage(role="user", content=turn))
            output = await model.generate(character_messages(speaker, history, context=_STAGE), config=config(index))
            reply = output.completion.strip()
            replies.append(reply)
            history.append(FrameMessage(role="assistant", content=reply))
        return replies, history, output

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        turns: list[str] = state.metadata["turns"]
        opener: str | None = state.metadata["opener"]
        opening: list[FrameMessage] = []
        if opener is not None:
            writer = get_model(role=PREFILL_ROLE, default=get_model())
            written = await writer.generate(
                chat_messages([FrameMessage(role="user", content=opener)]), config=config(0)
            )
            prefilled = written.completion.strip()
            state.store.set("prefilled", {"reply": prefilled, "model": str(writer)})
            opening = [FrameMessage(role="user", content=opener), FrameMessage(role="assistant", content=prefilled)]
        runs = [conversation(speaker, opening, turns, model=get_model())]
        if bare_replies:
            voice = get_model(role=DEFAULT_VOICE_ROLE, default=get_model())
            runs.append(conversation(None, opening, turns, model=voice))
        results = await asyncio.gather(*runs)
        replies, history, output = results[0]
        state.messages = character_messages(speaker, history, context=_STAGE)
        if output is not None:
            state.output = output
        state.store.set("replies", replies)
        state.store.set("bare_replies", results[1][0] if bare_replies else None)
        return state

    return solve


@scorer(
    metrics={
        name: [present_mean()]
        for name in (*_SUMMARY_MEASURES, *(f"held_{turn}" for turn in range(1, METRIC_TURNS + 1)))
    }
)
def hold_character_verdicts(*, character: str, holds_by: HoldsBy, embedding_model: str | None, turns: int) -> Scorer:
    """Whether the character held at each turn, how many turns it survived, whether it broke, and (prefill samples)
    whether it came back after a reply written in another model's voice.

    Args:
        character: The staged character's file.
        holds_by: ``judge`` or ``embedding`` (see the module's description).
        embedding_model: The sentence-transformers model for ``embedding`` (default: the packaged MiniLM).
        turns: The longest script's length: every sample gets ``held_1`` … ``held_<turns>``.
    """
    staged = _load(character).character
    voice = _voice(staged)

    async def score(state: TaskState, target: Target) -> Score:
        user_turns: list[str] = state.metadata["turns"]
        replies: list[str] = state.store.get("replies", [])
        if holds_by == "judge":
            verdicts = await asyncio.gather(
                *(_judge_turn(staged, turn, reply) for turn, reply in zip(user_turns, replies, strict=False))
            )
        else:
            bare: list[str] = state.store.get("bare_replies") or []
            verdicts = list(
                await asyncio.to_thread(_embedding_turns, embedding_model, voice, replies, bare, len(user_turns))
            )
        verdicts += [{"held": math.nan, "reason": "no reply was recorded"}] * (len(user_turns) - len(verdicts))
        held = [float(verdict["held"]) for verdict in verdicts]
        transcript = [
            {"turn": index, "user": turn, "reply": replies[index - 1] if index <= len(replies) else None, **verdict}
            for index, (turn, verdict) in enumerate(zip(user_turns, verdicts, strict=True), start=1)
        ]
        value = _measures(held, turns, prefill=state.metadata["opener"] is not None)
        metadata: dict[str, Any] = {"holds_by": holds_by, "transcript": _json_safe(transcript)}
        if state.metadata["opener"] is not None:
            metadata["prefilled"] = state.store.get("prefilled")
        return Score(
            value=value,
            answer=replies[-1] if replies else None,
            explanation=_explain(held, prefill=state.metadata["opener"] is not None),
            metadata=metadata,
        )

    return score


def _measures(held: Sequence[float], turns: int, *, prefill: bool) -> dict[str, float]:
    """The score of a sample from its per-turn verdicts (1 held, 0 broke, NaN missing)."""
    nan = math.nan
    value = {f"held_{turn}": nan for turn in range(1, max(turns, len(held)) + 1)}
    if prefill:
        return {**value, "survived": nan, "broke": nan, "prefill_recovered": held[0] if held else nan}
    for turn, verdict in enumerate(held, start=1):
        value[f"held_{turn}"] = verdict
    first_break = next((index for index, verdict in enumerate(held) if verdict == 0.0), None)
    before = held if first_break is None else held[:first_break]
    survived = nan if any(math.isnan(verdict) for verdict in before) else float(len(before))
    # Without a break seen, a missing verdict leaves open whether it broke there.
    unseen = any(math.isnan(verdict) for verdict in held)
    broke = 1.0 if first_break is not None else nan if unseen else 0.0
    return {**value, "survived": survived, "broke": broke, "prefill_recovered": nan}


def _explain(held: Sequence[float], *, prefill: bool) -> str:
    marks = " ".join("?" if math.isnan(verdict) else str(int(verdict)) for verdict in held)
    if prefill:
        return f"after the prefilled reply: {marks or 'no verdict'} (1 came back, 0 did not, ? missing)"
    return f"held per turn: {marks} (1 held, 0 broke, ? missing)"


def _judge_question(character: Character, turn: str) -> str:
    about = " ".join((character.summary or character.personality or character.voice).split())
    if len(about) > _SUMMARY_LIMIT:
        about = about[:_SUMMARY_LIMIT].rsplit(" ", 1)[0] + " …"
    name = character.display_name
    summary = substitute_macros(about, char=name, user=_STAGE.user_name) or "(no summary given)"
    return _JUDGE_QUESTION.format(name=name, summary=summary, turn=" ".join(turn.split()))


async def _judge_turn(character: Character, turn: str, reply: str) -> dict[str, Any]:
    if not reply:
        return {"held": math.nan, "reason": "the reply was empty, so there was nothing to judge"}
    result: StanceResult = await extract_stance(judge_model(), _judge_question(character, turn), reply, HOLD_STANCES)
    held = math.nan if result.stance is None else float(result.stance == HOLD_STANCES[0])
    return {
        "held": held,
        "stance": result.stance,
        "probabilities": result.probabilities,
        "method": result.method,
        "raw": result.raw,
        "reason": result.reason,
    }


def _voice(character: Character) -> list[str]:
    """The character's own voice: its replies in the example exchanges and its greeting, as the stage shows them."""
    shown = render_chat_frame(character, _STAGE.model_copy(update={"examples": "messages"}))
    return [message.content for message in shown if message.role == "assistant" and message.content.strip()]


def _embedding_turns(
    embedding_model: str | None, voice: Sequence[str], replies: Sequence[str], bare: Sequence[str], turns: int
) -> list[dict[str, Any]]:
    """Held when a reply is closer to the centroid of the character's voice than to the bare reply to its turn."""
    verdicts: list[dict[str, Any]] = []
    if not voice:
        why = "the character has no example replies or greeting to compare with"
        return [{"held": math.nan, "reason": why} for _ in range(turns)]
    embedder = load_embedding_model(embedding_model)
    centroid = embedder.encode(voice).mean(axis=0)
    norm = float(np.linalg.norm(centroid))
    for index in range(turns):
        reply = replies[index] if index < len(replies) else ""
        default = bare[index] if index < len(bare) else ""
        if not reply or not default or norm == 0.0:
            why = "the reply was empty" if not reply else "the bare model's reply was empty"
            verdicts.append({"held": math.nan, "bare_reply": default, "reason": why})
            continue
        vectors = embedder.encode([reply, default])
        to_character = float(vectors[0] @ centroid) / norm
        to_default = float(vectors[0] @ vectors[1])
        verdicts.append(
            {
                "held": float(to_character > to_default),
                "bare_reply": default,
                "similarity_character": to_character,
                "similarity_default": to_default,
            }
        )
    return verdicts


def _json_safe(value: Any) -> Any:
    """NaN as ``None`` in the score's metadata, which is written to the log as JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value
