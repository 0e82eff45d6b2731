"""The dialogue engine: turn order, each participant's own view, the stop rules, scripted and corpus speakers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from inspect_ai.model import ChatMessage, GenerateConfig

from characterlab.characters import Character
from characterlab.dialogue import (
    Conversation,
    CorpusSpeaker,
    ModelSpeaker,
    ScriptSpeaker,
    Speaker,
    StopRule,
    Turn,
    run,
)
from characterlab.errors import CharacterlabError
from characterlab.models import chat_messages
from characterlab.stage import FrameMessage
from tests.studies.conftest import Scripted

OPENER = "Say something."
# No rule but the turn limit (and a script running out) stops these conversations unless a test says otherwise.
ONLY_MAX = StopRule(max_turns=20, both_end=False, repeat_similarity=None)


def shown(messages: Sequence[ChatMessage]) -> list[tuple[str, str]]:
    """Messages as (role, text), to compare with what a test expects."""
    return [(message.role, message.text) for message in messages]


def talk(speakers: Sequence[Speaker], stop: StopRule = ONLY_MAX, turns: int | None = None) -> Conversation:
    conversation = Conversation(speakers, OPENER, stop)
    asyncio.run(run(conversation, turns))
    return conversation


def script(name: str, count: int = 10) -> ScriptSpeaker:
    return ScriptSpeaker(name, [f"{name.lower()}{index}" for index in range(1, count + 1)])


# --- Turn order ----------------------------------------------------------------------------------------------------


def test_two_participants_alternate_from_the_first() -> None:
    conversation = talk([script("A"), script("B")], StopRule(max_turns=5, both_end=False, repeat_similarity=None))
    assert [(turn.index, turn.speaker, turn.text) for turn in conversation.turns] == [
        (0, "A", "a1"),
        (1, "B", "b1"),
        (2, "A", "a2"),
        (3, "B", "b2"),
        (4, "A", "a3"),
    ]
    assert conversation.finished
    assert conversation.stop_reason == "max_turns"


def test_three_participants_take_turns_in_the_order_given() -> None:
    conversation = talk([script("C"), script("A"), script("B")], StopRule(max_turns=7, repeat_similarity=None))
    assert [turn.speaker for turn in conversation.turns] == ["C", "A", "B", "C", "A", "B", "C"]


def test_run_can_take_a_few_turns_at_a_time() -> None:
    conversation = Conversation([script("A"), script("B")], OPENER, ONLY_MAX)
    assert [turn.text for turn in asyncio.run(run(conversation, 3))] == ["a1", "b1", "a2"]
    assert not conversation.finished
    assert conversation.stop_reason is None
    assert [turn.text for turn in asyncio.run(run(conversation, 1))] == ["a1", "b1", "a2", "b2"]


def test_a_finished_conversation_takes_no_more_turns() -> None:
    conversation = talk([script("A"), script("B")], StopRule(max_turns=2))
    with pytest.raises(RuntimeError, match="finished"):
        asyncio.run(conversation.step())


def test_participants_need_two_distinct_names() -> None:
    with pytest.raises(CharacterlabError, match="at least two"):
        Conversation([script("A")], OPENER)
    with pytest.raises(CharacterlabError, match="A appears twice"):
        Conversation([script("A"), script("B"), script("A")], OPENER)


# --- Views ---------------------------------------------------------------------------------------------------------


def test_with_two_participants_each_sees_its_own_turns_as_assistant_and_the_others_as_user() -> None:
    conversation = talk([script("A"), script("B")], turns=3)
    assert shown(conversation.view("A")) == [
        ("user", OPENER),
        ("assistant", "a1"),
        ("user", "b1"),
        ("assistant", "a2"),
    ]
    # B's first user message is the opener and A's first turn, merged: user turns must alternate with B's own.
    assert shown(conversation.view("B")) == [
        ("user", f"{OPENER}\n\na1"),
        ("assistant", "b1"),
        ("user", "a2"),
    ]


def test_with_three_participants_others_are_named_and_their_turns_merged() -> None:
    conversation = talk([script("A"), script("B"), script("C")], turns=4)
    assert shown(conversation.view("A")) == [
        ("user", OPENER),
        ("assistant", "a1"),
        ("user", "B: b1\n\nC: c1"),
        ("assistant", "a2"),
    ]
    assert shown(conversation.view("B")) == [
        ("user", f"{OPENER}\n\nA: a1"),
        ("assistant", "b1"),
        ("user", "C: c1\n\nA: a2"),
    ]
    assert shown(conversation.view("C")) == [
        ("user", f"{OPENER}\n\nA: a1\n\nB: b1"),
        ("assistant", "c1"),
        ("user", "A: a2"),
    ]


def test_a_view_of_nobody_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        Conversation([script("A"), script("B")], OPENER).view("Z")


def test_a_model_is_sent_its_own_view_and_the_characters_frame_is_only_in_its_own(ada: Character) -> None:
    model = Scripted(lambda messages, config: f"reply {len(messages)}")
    speakers: list[Speaker] = [ModelSpeaker("Ada", model.model, character=ada), script("B")]
    conversation = talk(speakers, turns=4)
    ada_view = conversation.view("Ada")
    assert ada_view[0].role == "system"
    assert ada_view[0].text.startswith("You are Ada.")
    assert "Hello," not in ada_view[1].text  # staged without the greeting: the opener comes first
    after = ("system", "Keep replies under three sentences.")  # Ada's post-history instructions close her frame
    assert shown(ada_view[1:]) == [
        ("user", OPENER),
        ("assistant", "reply 3"),
        ("user", "b1"),
        ("assistant", "reply 5"),
        ("user", "b2"),
        after,
    ]
    assert all(message.role != "system" for message in conversation.view("B"))
    assert shown(conversation.view("B")) == [
        ("user", f"{OPENER}\n\nreply 3"),
        ("assistant", "b1"),
        ("user", "reply 5"),
        ("assistant", "b2"),
    ]
    # Each call got Ada's view as it stood at her turn: the frame around the conversation so far.
    first, second = (messages for messages, _ in model.calls)
    assert shown(first) == [*shown(ada_view[:2]), after]
    assert shown(second) == [*shown(ada_view[:4]), after]


def test_the_character_calls_the_other_participant_by_name(ada: Character) -> None:
    speaker = ModelSpeaker("Ada", Scripted(lambda m, c: "x").model, character=ada, user_name="Bob")
    frame = speaker.frame([])
    assert "Bob" in frame[0].text
    assert "{{user}}" not in frame[0].text


def test_a_system_prompt_frames_only_its_own_view() -> None:
    model = Scripted(lambda messages, config: "fine")
    speakers: list[Speaker] = [script("A"), ModelSpeaker("B", model.model, system="You are a terse sailor.")]
    conversation = talk(speakers, turns=2)
    assert shown(conversation.view("B")) == [
        ("system", "You are a terse sailor."),
        ("user", f"{OPENER}\n\na1"),
        ("assistant", "fine"),
    ]
    assert shown(conversation.view("A"))[0] == ("user", OPENER)


def test_a_bare_model_sees_the_conversation_alone() -> None:
    speaker = ModelSpeaker("B", Scripted(lambda m, c: "x").model)
    assert shown(Conversation([script("A"), speaker], OPENER).view("B")) == [("user", OPENER)]


def test_a_character_and_a_system_prompt_together_are_refused(ada: Character) -> None:
    with pytest.raises(CharacterlabError, match="not both"):
        ModelSpeaker("Ada", Scripted(lambda m, c: "x").model, character=ada, system="You are Bob.")


def test_each_turn_of_a_model_has_its_own_seed() -> None:
    model = Scripted(lambda messages, config: f"seed {config.seed}")
    config = GenerateConfig(temperature=0.8, max_tokens=20, seed=5)
    conversation = talk([ModelSpeaker("A", model.model, config=config), script("B")], turns=5)
    # A takes turns 0, 2 and 4 of the conversation: seed + turn.
    assert [config.seed for _, config in model.calls] == [5, 7, 9]
    assert [config.temperature for _, config in model.calls] == [0.8, 0.8, 0.8]
    assert [turn.text for turn in conversation.turns if turn.speaker == "A"] == ["seed 5", "seed 7", "seed 9"]


def test_a_question_asked_aside_does_not_enter_the_conversation() -> None:
    model = Scripted(lambda messages, config: "aside" if "Who are you?" in messages[-1].text else "turn")
    speaker = ModelSpeaker("A", model.model, system="You are A.", config=GenerateConfig(seed=3))
    conversation = talk([speaker, script("B")], turns=2)
    # Now it is A's turn: its view ends with B's turn, so the question joins that user message.
    view = conversation.view("A")
    assert asyncio.run(speaker.ask_aside(view, "Who are you?")) == "aside"
    asked, config = model.calls[-1]
    assert shown(asked) == [*shown(view[:-1]), ("user", "b1\n\nWho are you?")]
    assert config.seed == 3
    # After A's own turn the question follows as a new user message.
    asyncio.run(conversation.step())
    view = conversation.view("A")
    asyncio.run(speaker.ask_aside(view, "Who are you?"))
    assert shown(model.calls[-1][0]) == [*shown(view), ("user", "Who are you?")]
    assert [turn.text for turn in conversation.turns] == ["turn", "b1", "turn"]


# --- Stop rules ----------------------------------------------------------------------------------------------------


def test_the_conversation_stops_when_every_participants_latest_turn_ended() -> None:
    a = ScriptSpeaker("A", ["one [END]", "two", "three [END]", "four"])
    b = ScriptSpeaker("B", ["uno", "  ", "tres"])
    conversation = talk([a, b], StopRule(max_turns=10, repeat_similarity=None))
    # A ended at turn 0 but B had not spoken; B ended (empty) at turn 3 but A had taken it back at turn 2.
    assert [(turn.text, turn.ended) for turn in conversation.turns] == [
        ("one [END]", True),
        ("uno", False),
        ("two", False),
        ("", True),
        ("three [END]", True),
    ]
    assert conversation.stop_reason == "all_ended"


def test_ending_can_be_turned_off_and_the_marker_changed() -> None:
    a = ScriptSpeaker("A", ["bye [END]", "bye [END]"])
    b = ScriptSpeaker("B", ["bye [END]", "bye <done>"])
    off = talk([a, b], StopRule(max_turns=4, both_end=False, repeat_similarity=None))
    assert off.stop_reason == "max_turns"
    assert len(off.turns) == 4
    a = ScriptSpeaker("A", ["bye [END]", "bye <done>"])
    b = ScriptSpeaker("B", ["bye [END]", "bye <done>"])
    marked = talk([a, b], StopRule(max_turns=4, end_marker="<done>", repeat_similarity=None))
    assert [turn.ended for turn in marked.turns] == [False, False, True, True]
    assert marked.stop_reason == "all_ended"


def test_the_conversation_stops_when_every_participant_repeats_itself() -> None:
    a = ScriptSpeaker("A", ["x alpha", "the same thing", "the same thing", "The  same thing!", "more"])
    b = ScriptSpeaker("B", ["foo", "bar baz", "bar baz", "bar baz", "more"])
    conversation = talk([a, b], StopRule(max_turns=20, repeat_similarity=0.95, repeat_turns=2))
    # After turn 6 A's last two turns repeat its turn before, but B's turn 3 ("bar baz") did not repeat "foo";
    # turn 7 completes B's repeats. "the same thing!" against "the same thing": 2 × 14 / (15 + 14) = 0.966.
    assert len(conversation.turns) == 8
    assert conversation.stop_reason == "repetition"


def test_a_repeat_must_be_as_similar_as_the_threshold() -> None:
    a = ScriptSpeaker("A", ["x alpha", "the same thing", "the same thing", "The  same thing!", "more"])
    b = ScriptSpeaker("B", ["foo", "bar baz", "bar baz", "bar baz", "more"])
    # 0.966 < 0.97: A's fourth turn is not a repeat, so A's last two never both repeat before the scripts run out.
    conversation = talk([a, b], StopRule(max_turns=20, repeat_similarity=0.97, repeat_turns=2))
    assert conversation.stop_reason == "script_ended"
    assert len(conversation.turns) == 10


def test_the_conversation_stops_when_a_script_runs_out() -> None:
    conversation = talk([script("A"), script("B", count=2)], StopRule(max_turns=10, repeat_similarity=None))
    assert [turn.text for turn in conversation.turns] == ["a1", "b1", "a2", "b2", "a3"]
    assert conversation.stop_reason == "script_ended"


def test_a_script_with_nothing_to_say_first_ends_the_conversation_before_it_starts() -> None:
    conversation = Conversation([ScriptSpeaker("A", []), script("B")], OPENER)
    assert conversation.finished
    assert conversation.stop_reason == "script_ended"
    assert asyncio.run(run(conversation)) == []


def test_a_turn_limit_that_coincides_with_every_end_names_the_end() -> None:
    a = ScriptSpeaker("A", ["[END]"])
    b = ScriptSpeaker("B", ["[END]"])
    assert talk([a, b], StopRule(max_turns=2)).stop_reason == "all_ended"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_turns": 0}, "max_turns"),
        ({"repeat_turns": 0}, "repeat_turns"),
        ({"repeat_similarity": 1.5}, "repeat_similarity"),
        ({"end_marker": ""}, "end_marker"),
    ],
)
def test_a_stop_rule_checks_its_values(options: dict[str, object], message: str) -> None:
    with pytest.raises(CharacterlabError, match=message):
        StopRule(**options)  # type: ignore[arg-type]


# --- Scripted and corpus speakers ----------------------------------------------------------------------------------


def test_a_script_says_its_lines_in_order_and_counts_what_is_left() -> None:
    speaker = ScriptSpeaker("S", ["first", "second"])
    assert asyncio.run(speaker.reply([], 0)) == "first"
    assert speaker.remaining == 1
    assert asyncio.run(speaker.reply([], 7)) == "second"
    assert speaker.remaining == 0
    with pytest.raises(RuntimeError, match="all its 2 lines"):
        asyncio.run(speaker.reply([], 9))


PASSAGES = [f"Passage number {index} of the writings." for index in range(12)]


def draws(speaker: CorpusSpeaker, turns: Sequence[int]) -> list[str]:
    return [asyncio.run(speaker.reply([], turn)) for turn in turns]


def test_a_corpus_draws_the_same_passages_from_the_same_seed() -> None:
    turns = list(range(10))
    first = draws(CorpusSpeaker("C", PASSAGES, seed=3), turns)
    assert first == draws(CorpusSpeaker("C", PASSAGES, seed=3), turns)
    assert set(first) <= set(PASSAGES)
    assert len(set(first)) > 1
    assert first != draws(CorpusSpeaker("C", PASSAGES, seed=4), turns)
    # A turn's passage depends on the seed and the turn only, not on what was drawn before.
    assert draws(CorpusSpeaker("C", PASSAGES, seed=3), [7, 2]) == [first[7], first[2]]


def test_a_corpus_speaker_takes_part_in_a_conversation() -> None:
    conversation = talk([script("A"), CorpusSpeaker("C", PASSAGES, seed=1)], turns=4)
    drawn = [turn.text for turn in conversation.turns if turn.speaker == "C"]
    assert drawn == draws(CorpusSpeaker("C", PASSAGES, seed=1), [1, 3])


def test_an_empty_corpus_is_refused() -> None:
    with pytest.raises(CharacterlabError, match="no passages"):
        CorpusSpeaker("C", [])


def test_turns_are_plain_records() -> None:
    turn = Turn(index=2, speaker="A", text="hi", ended=False)
    assert turn == Turn(2, "A", "hi", False)
    with pytest.raises(AttributeError):
        turn.text = "changed"  # type: ignore[misc]


def test_a_speaker_can_be_any_object_with_a_name_a_frame_and_a_reply() -> None:
    class Echo:
        name = "Echo"

        def frame(self, history: Sequence[FrameMessage]) -> list[ChatMessage]:
            return chat_messages(history)

        async def reply(self, view: list[ChatMessage], turn: int) -> str:
            return view[-1].text.upper()

    conversation = talk([script("A"), Echo()], turns=2)
    assert conversation.turns[1].text == f"{OPENER}\n\nA1".upper()


def test_a_conversation_goes_on_from_earlier_turns() -> None:
    first = [ScriptSpeaker("A", ["a1", "a2", "a3"]), ScriptSpeaker("B", ["b1", "b2", "b3"])]
    whole = asyncio.run(run(Conversation(first, "Hi", StopRule(max_turns=4, repeat_similarity=None))))
    again = [ScriptSpeaker("A", ["a2", "a3"]), ScriptSpeaker("B", ["b2", "b3"])]
    resumed = Conversation(again, "Hi", StopRule(max_turns=4, repeat_similarity=None), turns=whole[:2])
    assert not resumed.finished and resumed.next_speaker.name == "A"
    assert [turn.text for turn in asyncio.run(run(resumed))] == [turn.text for turn in whole]
    with pytest.raises(CharacterlabError, match="expected A's"):
        Conversation(again, "Hi", turns=[whole[1]])
