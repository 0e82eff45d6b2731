"""The dialogue engine: speakers that take turns, each seeing the conversation from its own side.

A conversation is a list of turns taken in a fixed order (the speakers' order, round and round). Nothing here
knows about Inspect tasks, so any study can hold a conversation: a speaker is anything with a name, a frame and an
async ``reply``; a model, a script and a corpus sampler are provided.

Every participant has its own view of the conversation (:meth:`Conversation.view`):

- its frame: the character's chat frame (without a greeting), or a plain system prompt, or nothing;
- the opener, as the first user message, attributed to nobody: every participant sees it, so that a
  self-conversation starts from the same prompt on both sides;
- its own turns as ``assistant`` messages and everyone else's as ``user`` messages. With three or more
  participants another's turn is prefixed ``Name: `` so the reader knows who spoke; with two there is only one
  other, and no prefix. Consecutive ``user`` messages are merged into one, separated by a blank line, because many
  chat templates require user and assistant turns to alternate.
"""

from __future__ import annotations

import difflib
import itertools
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from inspect_ai.model import ChatMessage, ChatMessageSystem, ChatMessageUser, GenerateConfig, Model

from characterlab.characters import Character
from characterlab.errors import CharacterlabError
from characterlab.models import chat_messages
from characterlab.stage import FrameMessage, StageContext, render_chat_frame

__all__ = [
    "STOP_REASONS",
    "Conversation",
    "CorpusSpeaker",
    "ModelSpeaker",
    "ScriptSpeaker",
    "Speaker",
    "StopReason",
    "StopRule",
    "Turn",
    "run",
]

StopReason = Literal["max_turns", "all_ended", "repetition", "script_ended"]
"""Why a conversation finished."""
STOP_REASONS: tuple[StopReason, ...] = ("max_turns", "all_ended", "repetition", "script_ended")
"""Every stop reason, in the order the rule checks them after a turn."""

_SPACE = re.compile(r"\s+")


class Speaker(Protocol):
    """A participant of a conversation: a model, a script, a corpus, or anything else that can take a turn."""

    name: str
    """Unique within the conversation; others see it as the ``Name: `` prefix when three or more talk."""

    def frame(self, history: Sequence[FrameMessage]) -> list[ChatMessage]:
        """The speaker's own view: its frame (a character, a system prompt, or nothing) around the history.

        Args:
            history: The conversation as this speaker sees it: the opener and others' turns as ``user``
                messages, its own turns as ``assistant`` messages.
        """
        ...

    async def reply(self, view: list[ChatMessage], turn: int) -> str:
        """Take a turn.

        Args:
            view: The conversation from this speaker's side (:meth:`Conversation.view`).
            turn: The 0-based index of the turn in the whole conversation (seeds derive from it).
        """
        ...


class ModelSpeaker:
    """A model (any Inspect model), staged as a character, given a plain system prompt, or bare.

    Args:
        name: The participant's name.
        model: The model that writes the replies.
        character: The character to play (staged with :func:`render_chat_frame`, without a greeting).
        system: A plain system prompt (a persona) instead of a character.
        config: How to generate. When it has a ``seed``, turn ``t`` is generated with ``seed + t``, so a
            conversation is reproducible and no two turns share a seed.
        examples: Where a character's example exchanges go: ``system``, ``messages`` or ``none``.
        user_name: What the character's ``{{user}}`` stands for (the other participant, when there is one).

    Raises:
        CharacterlabError: if both ``character`` and ``system`` are given.
    """

    def __init__(
        self,
        name: str,
        model: Model,
        character: Character | None = None,
        system: str | None = None,
        config: GenerateConfig | None = None,
        examples: Literal["system", "messages", "none"] = "system",
        *,
        user_name: str = "User",
    ) -> None:
        if character is not None and system is not None:
            raise CharacterlabError(f"participant {name}: give a character or a system prompt, not both")
        self.name = name
        self.model = model
        self.character = character
        self.system = system
        self.config = config or GenerateConfig()
        self.stage = StageContext(greeting=None, examples=examples, user_name=user_name)

    def frame(self, history: Sequence[FrameMessage]) -> list[ChatMessage]:
        """The character's chat frame around the history, or the system prompt before it, or the history alone."""
        if self.character is not None:
            staged = self.stage.model_copy(update={"history": list(history)})
            return chat_messages(render_chat_frame(self.character, staged))
        messages = chat_messages(history)
        return [ChatMessageSystem(content=self.system), *messages] if self.system is not None else messages

    async def reply(self, view: list[ChatMessage], turn: int) -> str:
        """Generate the next turn from the view (seeded ``seed + turn`` when the config has a seed)."""
        config = self.config
        if config.seed is not None:
            config = config.model_copy(update={"seed": config.seed + turn})
        output = await self.model.generate(view, config=config)
        return output.completion.strip()

    async def ask_aside(self, view: list[ChatMessage], question: str) -> str:
        """Ask the speaker something that does not enter the conversation (a probe of persona drift).

        The question follows the view as a user message; when the view already ends with one (it is this speaker's
        turn), the question joins it after a blank line, as consecutive user turns do in a view. The reply is
        generated with the speaker's config as it is (its seed, not a turn's).

        Args:
            view: The speaker's view at the moment of asking (:meth:`Conversation.view`).
            question: What to ask.

        Returns:
            The reply, stripped.
        """
        messages = list(view)
        if messages and isinstance(messages[-1], ChatMessageUser):
            messages[-1] = ChatMessageUser(content=f"{messages[-1].text}\n\n{question}")
        else:
            messages.append(ChatMessageUser(content=question))
        output = await self.model.generate(messages, config=self.config)
        return output.completion.strip()


class ScriptSpeaker:
    """A participant that says prepared lines, one per turn, in order; when they run out, the conversation ends.

    Args:
        name: The participant's name.
        lines: What it says, one turn each.
    """

    def __init__(self, name: str, lines: Sequence[str]) -> None:
        self.name = name
        self.lines = tuple(lines)
        self._said = 0

    @property
    def remaining(self) -> int:
        """How many lines are left to say."""
        return len(self.lines) - self._said

    def frame(self, history: Sequence[FrameMessage]) -> list[ChatMessage]:
        """The history alone: a script has no frame (and does not read it)."""
        return chat_messages(history)

    async def reply(self, view: list[ChatMessage], turn: int) -> str:
        """Say the next line.

        Raises:
            RuntimeError: if every line has been said (a :class:`Conversation` stops before asking).
        """
        if self.remaining == 0:
            raise RuntimeError(f"script {self.name} has said all its {len(self.lines)} lines")
        self._said += 1
        return self.lines[self._said - 1]


class CorpusSpeaker:
    """A participant that answers with a passage drawn at random from a corpus (e.g. a person's writings).

    The draw of turn ``t`` depends only on ``seed`` and ``t``, so the same seed gives the same passages whatever
    else happens in the conversation. Passages are drawn with replacement.

    Args:
        name: The participant's name.
        passages: The passages to draw from (at least one).
        seed: The seed of the draws.

    Raises:
        CharacterlabError: if there are no passages.
    """

    def __init__(self, name: str, passages: Sequence[str], seed: int = 0) -> None:
        if not passages:
            raise CharacterlabError(f"participant {name}: the corpus holds no passages to draw from")
        self.name = name
        self.passages = tuple(passages)
        self.seed = seed

    def frame(self, history: Sequence[FrameMessage]) -> list[ChatMessage]:
        """The history alone: a corpus sampler has no frame (and does not read it)."""
        return chat_messages(history)

    async def reply(self, view: list[ChatMessage], turn: int) -> str:
        """Draw the passage of this turn."""
        # A string seed is hashed with SHA-512 by random.Random: stable across runs and Python processes.
        return random.Random(f"{self.seed}:{turn}").choice(self.passages)


@dataclass(frozen=True)
class Turn:
    """One turn of a conversation."""

    index: int
    """0-based position in the conversation."""
    speaker: str
    """The name of the participant who spoke."""
    text: str
    """What was said (stripped)."""
    ended: bool
    """Whether the speaker ended its part with this turn (the end marker, or nothing at all)."""


@dataclass(frozen=True)
class StopRule:
    """When a conversation stops. After every turn the rules are checked in this order, the first that holds
    giving the stop reason: ``all_ended``, ``repetition``, ``max_turns``, then ``script_ended`` (the next speaker is
    a script with no line left)."""

    max_turns: int = 10
    """The most turns, counting every participant's."""
    both_end: bool = True
    """Stop when every participant's latest turn ended (``all_ended``). A turn ends when it contains
    ``end_marker`` or is empty once stripped. (Named for the two-participant case; it means all of them.)"""
    end_marker: str | None = "[END]"
    """The text a participant writes to end its part; ``None``: only an empty turn ends."""
    repeat_similarity: float | None = 0.95
    """Stop (``repetition``) when, for every participant, each of its last ``repeat_turns`` turns is at least this
    similar to its turn before; ``None`` turns the rule off. Similarity is difflib's ``SequenceMatcher`` ratio
    (2 × matching characters / total characters) of the two texts normalised: case-folded, runs of whitespace
    collapsed to one space, ends stripped."""
    repeat_turns: int = 3
    """How many consecutive near-repeats of each participant stop the conversation."""

    def __post_init__(self) -> None:
        if self.max_turns < 1:
            raise CharacterlabError(f"max_turns must be at least 1; got {self.max_turns}")
        if self.repeat_turns < 1:
            raise CharacterlabError(f"repeat_turns must be at least 1; got {self.repeat_turns}")
        if self.repeat_similarity is not None and not 0.0 < self.repeat_similarity <= 1.0:
            raise CharacterlabError(f"repeat_similarity must be in (0, 1]; got {self.repeat_similarity}")
        if self.end_marker == "":
            raise CharacterlabError("end_marker must not be empty (every turn would end); use None for no marker")

    def ends(self, text: str) -> bool:
        """Whether a turn with this text ends its speaker's part."""
        return not text.strip() or (self.end_marker is not None and self.end_marker in text)


class Conversation:
    """Speakers taking turns in order from an opener, until a :class:`StopRule` says to stop.

    Args:
        speakers: Two or more, in speaking order; names must be unique.
        opener: The first user message every participant sees.
        stop: When to stop.
        turns: Turns taken earlier (e.g. stored by the web lab), to go on from; they must follow the speaking
            order.

    Raises:
        CharacterlabError: fewer than two speakers, two with the same name, or earlier turns out of order.
    """

    def __init__(
        self, speakers: Sequence[Speaker], opener: str, stop: StopRule | None = None, turns: Sequence[Turn] = ()
    ) -> None:
        if len(speakers) < 2:
            raise CharacterlabError(f"a conversation needs at least two participants; got {len(speakers)}")
        names = [speaker.name for speaker in speakers]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise CharacterlabError(f"participants must have distinct names; {', '.join(repeated)} appears twice")
        self.speakers = tuple(speakers)
        self.opener = opener
        self.stop = stop or StopRule()
        for index, turn in enumerate(turns):
            expected = names[index % len(names)]
            if turn.index != index or turn.speaker != expected:
                raise CharacterlabError(
                    f"earlier turn {index} is {turn.speaker}'s (index {turn.index}); "
                    f"expected {expected}'s, index {index}"
                )
        self._turns: list[Turn] = list(turns)
        self._stop_reason: StopReason | None = None
        self._check_stop()

    @property
    def turns(self) -> list[Turn]:
        """The turns taken so far, in order."""
        return list(self._turns)

    @property
    def finished(self) -> bool:
        """Whether the conversation has stopped."""
        return self._stop_reason is not None

    @property
    def stop_reason(self) -> StopReason | None:
        """Why it stopped (``max_turns``, ``all_ended``, ``repetition``, ``script_ended``); ``None`` while it runs."""
        return self._stop_reason

    @property
    def next_speaker(self) -> Speaker:
        """Who speaks next."""
        return self.speakers[len(self._turns) % len(self.speakers)]

    def view(self, name: str) -> list[ChatMessage]:
        """The conversation as participant ``name`` sees it (see the module's description).

        Raises:
            KeyError: if no participant has this name.
        """
        speakers = {speaker.name: speaker for speaker in self.speakers}
        if name not in speakers:
            raise KeyError(name)
        return speakers[name].frame(self._history(name))

    async def step(self) -> Turn:
        """Let the next speaker take its turn, then check whether the conversation stops.

        Raises:
            RuntimeError: if the conversation has already finished.
        """
        if self._stop_reason is not None:
            raise RuntimeError(f"the conversation has finished ({self._stop_reason})")
        speaker = self.next_speaker
        index = len(self._turns)
        text = (await speaker.reply(self.view(speaker.name), index)).strip()
        turn = Turn(index=index, speaker=speaker.name, text=text, ended=self.stop.ends(text))
        self._turns.append(turn)
        self._check_stop()
        return turn

    def _history(self, name: str) -> list[FrameMessage]:
        prefixed = len(self.speakers) > 2
        history = [FrameMessage(role="user", content=self.opener)]
        for turn in self._turns:
            if turn.speaker == name:
                history.append(FrameMessage(role="assistant", content=turn.text))
                continue
            text = f"{turn.speaker}: {turn.text}" if prefixed else turn.text
            if history[-1].role == "user":
                history[-1] = FrameMessage(role="user", content=f"{history[-1].content}\n\n{text}")
            else:
                history.append(FrameMessage(role="user", content=text))
        return history

    def _check_stop(self) -> None:
        if self.stop.both_end and self._all_ended():
            self._stop_reason = "all_ended"
        elif self.stop.repeat_similarity is not None and self._repeating(self.stop.repeat_similarity):
            self._stop_reason = "repetition"
        elif len(self._turns) >= self.stop.max_turns:
            self._stop_reason = "max_turns"
        elif isinstance(self.next_speaker, ScriptSpeaker) and self.next_speaker.remaining == 0:
            self._stop_reason = "script_ended"

    def _latest(self) -> dict[str, Turn]:
        return {turn.speaker: turn for turn in self._turns}

    def _all_ended(self) -> bool:
        latest = self._latest()
        return len(latest) == len(self.speakers) and all(turn.ended for turn in latest.values())

    def _repeating(self, threshold: float) -> bool:
        needed = self.stop.repeat_turns + 1
        for speaker in self.speakers:
            texts = [_normalised(turn.text) for turn in self._turns if turn.speaker == speaker.name]
            if len(texts) < needed:
                return False
            for before, after in itertools.pairwise(texts[-needed:]):
                if difflib.SequenceMatcher(None, before, after, autojunk=False).ratio() < threshold:
                    return False
        return True


def _normalised(text: str) -> str:
    return _SPACE.sub(" ", text.casefold()).strip()


async def run(conversation: Conversation, max_turns: int | None = None) -> list[Turn]:
    """Take turns until the conversation finishes, or until ``max_turns`` more turns have been taken.

    Args:
        conversation: The conversation to advance.
        max_turns: The most turns to take in this call (``None``: until the stop rule ends it).

    Returns:
        Every turn of the conversation so far, in order.
    """
    taken = 0
    while not conversation.finished and (max_turns is None or taken < max_turns):
        await conversation.step()
        taken += 1
    return conversation.turns
