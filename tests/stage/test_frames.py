"""Chat and transcript frames: golden files pin the exact text; behaviour tests pin the rules."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from characterlab.characters import Character
from characterlab.stage import (
    FrameMessage,
    StageContext,
    TranscriptFrame,
    render_chat_frame,
    render_system_prompt,
    render_transcript_frame,
    render_transcript_from_messages,
    strength_label,
)

GOLDEN = Path(__file__).parent / "golden"
HISTORY = [
    FrameMessage(role="user", content="Can you check my proof?"),
    FrameMessage(role="assistant", content="Show me line one."),
    FrameMessage(role="user", content="Let x be even."),
]


def _matches_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"golden file {name} is missing; run with UPDATE_GOLDEN=1 to write it"
    assert text == path.read_text(encoding="utf-8"), f"{name} changed; inspect, then UPDATE_GOLDEN=1 if intended"


def _messages_text(messages: list[FrameMessage]) -> str:
    return json.dumps([m.model_dump() for m in messages], indent=2, ensure_ascii=False) + "\n"


@pytest.mark.parametrize(
    ("name", "context"),
    [
        ("ada_chat_default.json", StageContext()),
        ("ada_chat_messages.json", StageContext(user_name="Sam", examples="messages", greeting=1, history=HISTORY)),
        ("ada_chat_no_examples.json", StageContext(examples="none", greeting=None, excerpts=["I wrote this once."])),
    ],
)
def test_chat_frame_golden(ada: Character, name: str, context: StageContext) -> None:
    _matches_golden(name, _messages_text(render_chat_frame(ada, context)))


@pytest.mark.parametrize(
    ("name", "context"),
    [
        ("ada_transcript_default.txt", StageContext()),
        ("ada_transcript_history.txt", StageContext(user_name="Sam", history=HISTORY)),
    ],
)
def test_transcript_frame_golden(ada: Character, name: str, context: StageContext) -> None:
    frame = render_transcript_frame(ada, context)
    _matches_golden(name, f"{frame.prompt}\n--- stop: {list(frame.stop_sequences)}\n")


def test_rendering_is_deterministic(ada: Character) -> None:
    context = StageContext(history=HISTORY)
    assert render_chat_frame(ada, context) == render_chat_frame(ada, context)
    assert render_transcript_frame(ada, context) == render_transcript_frame(ada, context)


def test_macros_are_filled_at_render_time_only(ada: Character) -> None:
    prompt = render_system_prompt(ada, StageContext(user_name="Sam"))
    assert "{{" not in prompt and "<USER>" not in prompt and "<BOT>" not in prompt
    assert "Sam visits Ada in her study." in prompt
    assert ada.scenario == "{{user}} visits {{char}} in her study."


def test_nickname_is_what_char_stands_for(ada: Character) -> None:
    nicknamed = ada.model_copy(update={"nickname": "Professor L"})
    frame = render_chat_frame(nicknamed, StageContext(user_name="Sam"))
    assert frame[0].content.startswith("You are Professor L.")
    assert frame[1].content == "Hello, Sam. I am Professor L."


def test_strong_traits_show_examples_weak_traits_show_counterexamples(ada: Character) -> None:
    prompt = render_system_prompt(ada)
    assert "Which trail?" in prompt  # curiosity 0.8: its example
    assert "It is a lovely start" in prompt  # bluntness 0.2: its counterexample is what Ada does
    assert "Line three divides by zero" not in prompt
    assert "Nice." not in prompt


def test_card_system_prompt_replaces_and_can_include_the_original(ada: Character) -> None:
    built = render_system_prompt(ada)
    replaced = ada.model_copy(update={"system_prompt": "Be {{char}}.\n{{original}}\nEnd."})
    assert render_system_prompt(replaced) == f"Be Ada.\n{built}\nEnd."
    assert render_system_prompt(ada.model_copy(update={"system_prompt": "Only this."})) == "Only this."


def test_post_history_instructions_come_last(ada: Character) -> None:
    frame = render_chat_frame(ada, StageContext(history=HISTORY))
    assert frame[-1] == FrameMessage(role="system", content="Keep replies under three sentences.")
    assert frame[-2] == HISTORY[-1]


def test_missing_alternate_greeting_is_an_error(ada: Character) -> None:
    with pytest.raises(IndexError, match="has 1 alternate greeting"):
        render_chat_frame(ada, StageContext(greeting=5))


def test_minimal_character_renders_without_empty_sections() -> None:
    bare = Character(name="Bo")
    assert render_system_prompt(bare) == (
        "You are Bo. Stay in character as Bo in everything you write: speak as Bo would, in Bo's voice, "
        "and never step outside the role."
    )
    assert [m.role for m in render_chat_frame(bare)] == ["system"]
    frame = render_transcript_frame(bare)
    assert frame.prompt.endswith("The conversation:\n\nBo:")


def test_transcript_ends_in_the_characters_turn_and_stops_at_the_next(ada: Character) -> None:
    frame = render_transcript_frame(ada, StageContext(user_name="Sam", history=HISTORY))
    assert frame.prompt.endswith("Sam: Let x be even.\nAda:")
    assert frame.stop_sequences == ("\nSam:", "\nAda:")
    assert frame.reply_from(" Then x squared is even.\nSam: Why?\nAda: Because.") == "Then x squared is even."
    assert frame.reply_from(" No stop here. ") == "No stop here."


def test_reply_from_cuts_at_the_earliest_stop() -> None:
    frame = TranscriptFrame(prompt="", stop_sequences=("\nB:", "\nA:"), char="A", user="B")
    assert frame.reply_from("one\nA: two\nB: three") == "one"


@pytest.mark.parametrize(
    ("strength", "label"),
    [(1.0, "very strong"), (0.8, "strong"), (0.6, "mild"), (0.5, "neutral"), (0.4, "low"), (0.2, "very low")],
)
def test_strength_labels(strength: float, label: str) -> None:
    assert strength_label(strength) == label
    assert strength_label(0.0).startswith("absent")


def test_transcript_from_messages_golden() -> None:
    messages = [
        FrameMessage(role="system", content="You answer questions about geography."),
        *HISTORY[:2],
        FrameMessage(role="system", content="Be brief.\n"),
        HISTORY[2],
    ]
    frame = render_transcript_from_messages(messages, char="Guide", user="Sam")
    _matches_golden("messages_transcript.txt", f"{frame.prompt}\n--- stop: {list(frame.stop_sequences)}\n")


def test_transcript_from_messages_ends_in_the_assistants_turn() -> None:
    frame = render_transcript_from_messages([FrameMessage(role="user", content="What is the capital of France?")])
    assert frame.prompt == (
        "The following is a transcript of a conversation between Assistant and User.\n\n"
        "The conversation:\n\nUser: What is the capital of France?\nAssistant:"
    )
    assert frame.stop_sequences == ("\nUser:", "\nAssistant:")
    assert frame.reply_from(" Paris.\nUser: thanks") == "Paris."


def test_transcript_from_messages_matches_the_character_frames_shape() -> None:
    # Without character sections or examples, a character's transcript is the generic one of its conversation.
    bare = Character(name="Bo")
    staged = render_transcript_frame(bare, StageContext(user_name="Sam", history=HISTORY))
    generic = render_transcript_from_messages(HISTORY, char="Bo", user="Sam")
    assert staged == generic
