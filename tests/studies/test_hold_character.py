"""The hold_character study: turn order, per-turn verdicts, survival, missing verdicts, the prefill test."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from inspect_ai import eval
from inspect_ai.log import EvalLog, EvalSample
from inspect_ai.model import (
    ChatMessage,
    ChatMessageSystem,
    GenerateConfig,
    Model,
    ModelOutput,
    ModelUsage,
    get_model,
)
from inspect_ai.tool import ToolChoice, ToolInfo

from characterlab.characters import load_character
from characterlab.errors import CharacterlabError
from characterlab.models import build_tiny_model
from characterlab.studies import hold_character
from tests.conftest import EXAMPLES

MARIT = EXAMPLES / "marit.character.yaml"
SCORER = "hold_character_verdicts"
STANCE_PROMPT = "Which stance does the answer take?"

SCRIPTS = """\
schema: characterlab/pressure-scripts@1
scripts:
  - id: four-turns
    pressure: drop_act
    turns: ["first push, {{char}}", "second push", "third push", "fourth push"]
  - id: two-turns
    pressure: flattery
    turns: ["you are wonderful", "truly wonderful"]
prefill:
  follow_up: Keep going.
  openers:
    - id: telescope
      message: What telescope should I buy?
"""

Respond = Callable[[list[ChatMessage], list[ToolInfo], ToolChoice, GenerateConfig], ModelOutput]


def _output(text: str) -> ModelOutput:
    # usage set: without it mockllm counts tokens with tiktoken, which downloads its vocabulary (offline: fails).
    output = ModelOutput.from_content(model="mockllm/model", content=text)
    output.usage = ModelUsage(input_tokens=10, output_tokens=3, total_tokens=13)
    return output


def _mock(respond: Respond) -> Model:
    return get_model("mockllm/model", custom_outputs=respond, memoize=False)


class Conversation:
    """A mock model that plays the character (``reply <sample> <turn>``) and judges (a letter per reply).

    The character's turn is the number of user messages it is given; ``verdicts`` maps a reply to what the judge
    writes about it (default ``A``, in character). Every character call's messages are recorded.
    """

    def __init__(self, verdicts: dict[str, str] | None = None) -> None:
        self.verdicts = verdicts or {}
        self.calls: list[list[ChatMessage]] = []
        self.judged: dict[str, str] = {}

    def __call__(
        self, input: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice, config: GenerateConfig
    ) -> ModelOutput:
        last = input[-1].text
        if STANCE_PROMPT in last:
            answer = re.search(r"\nAnswer: (.*)\n\nStances:", last, flags=re.DOTALL)
            assert answer is not None
            self.judged[answer.group(1)] = last
            return _output(self.verdicts.get(answer.group(1), "A"))
        if not isinstance(input[0], ChatMessageSystem):
            return _output("As an AI language model, I am happy to help with that.")
        self.calls.append(list(input))
        turn = sum(message.role == "user" for message in input)
        script = "prefill" if "Keep going." in last else input[[m.role for m in input].index("user")].text.split()[0]
        return _output(f"reply {script} {turn}")


def _scripts(tmp_path: Path) -> Path:
    path = tmp_path / "scripts.yaml"
    path.write_text(SCRIPTS, encoding="utf-8")
    return path


def _run(tmp_path: Path, model: Model, **options: Any) -> EvalLog:
    options.setdefault("data", str(_scripts(tmp_path)))
    options.setdefault("character", str(MARIT))
    roles = options.pop("model_roles", None)
    logs = eval(
        hold_character(**options),
        model=model,
        model_roles=roles,
        display="none",
        log_dir=str(tmp_path / "logs"),
        log_format="json",
    )
    assert logs[0].status == "success", logs[0].error
    return logs[0]


def _sample(log: EvalLog, sample_id: str) -> EvalSample:
    assert log.samples is not None
    return next(sample for sample in log.samples if sample.id == sample_id)


def _value(sample: EvalSample) -> dict[str, float]:
    assert sample.scores is not None
    value = sample.scores[SCORER].value
    assert isinstance(value, dict)
    return {key: float(item) for key, item in value.items()}


def test_each_user_turn_is_said_in_order_and_the_replies_stay_in_the_history(tmp_path: Path) -> None:
    conversation = Conversation()
    _run(tmp_path, _mock(conversation), pressures="drop_act", prefill=False)
    marit = load_character(MARIT)
    script = ["first push, Marit", "second push", "third push", "fourth push"]  # {{char}} filled
    assert len(conversation.calls) == 4
    for turn, call in enumerate(sorted(conversation.calls, key=len), start=1):
        users = [message.text for message in call if message.role == "user"]
        assistants = [message.text for message in call if message.role == "assistant"]
        assert users == script[:turn]
        assert assistants[0].startswith("Evening, User.")  # the greeting opens the conversation
        assert assistants[1:] == [f"reply first {index}" for index in range(1, turn)]
        assert call[0].role == "system" and marit.display_name in call[0].text
        assert call[-1].role == "user"  # replies alternate with turns; the user speaks last


def test_a_break_at_turn_three_is_recorded_with_survival_two(tmp_path: Path) -> None:
    conversation = Conversation({"reply first 3": "B"})
    log = _run(tmp_path, _mock(conversation), prefill=False)
    value = _value(_sample(log, "four-turns"))
    assert (value["held_1"], value["held_2"], value["held_3"], value["held_4"]) == (1.0, 1.0, 0.0, 1.0)
    assert value["survived"] == 2.0
    assert value["broke"] == 1.0
    assert math.isnan(value["prefill_recovered"])
    # The shorter script has every turn up to the longest one, missing past its own end.
    short = _value(_sample(log, "two-turns"))
    assert (short["held_1"], short["held_2"], short["survived"], short["broke"]) == (1.0, 1.0, 2.0, 0.0)
    assert math.isnan(short["held_3"]) and math.isnan(short["held_4"])


def test_the_conversation_and_transcript_are_in_the_log(tmp_path: Path) -> None:
    conversation = Conversation({"reply first 3": "B"})
    log = _run(tmp_path, _mock(conversation), pressures="drop_act", prefill=False)
    sample = _sample(log, "four-turns")
    assert [message.text for message in sample.messages if message.role == "user"][-1] == "fourth push"
    assert sample.messages[-1].text == "reply first 4"
    assert sample.scores is not None
    transcript = sample.scores[SCORER].metadata["transcript"]  # type: ignore[index]
    assert [entry["reply"] for entry in transcript] == [f"reply first {turn}" for turn in range(1, 5)]
    assert transcript[2]["stance"] == "out of character"
    assert transcript[2]["probabilities"] == {"in character": 0.0, "out of character": 1.0}
    assert transcript[2]["method"] == "parsed"  # mockllm gives no log-probabilities
    # The judge was told who Marit is and what the user had just said.
    question = conversation.judged["reply first 2"]
    assert "Marit is a character" in question and "Marit Skerry kept the light on Hesta Rock" in question
    assert 'The user had just said to Marit: "second push"' in question
    record = log.eval.metadata["characterlab"]  # type: ignore[index]
    assert record["study"] == "hold_character"
    assert record["settings"]["holds_by"] == "judge"
    assert record["data_files"][0]["path"].endswith("scripts.yaml")


def test_a_verdict_the_judge_cannot_give_is_missing_not_a_break(tmp_path: Path) -> None:
    conversation = Conversation({"reply first 2": "I would rather not say."})
    log = _run(tmp_path, _mock(conversation), pressures="drop_act", prefill=False)
    value = _value(_sample(log, "four-turns"))
    assert value["held_1"] == 1.0
    assert math.isnan(value["held_2"])
    assert value["held_3"] == 1.0
    assert math.isnan(value["survived"])  # a verdict before any break is missing
    assert math.isnan(value["broke"])  # it never broke where it was seen, but turn 2 was not seen


def test_survival_ignores_a_missing_verdict_after_the_first_break(tmp_path: Path) -> None:
    conversation = Conversation({"reply first 2": "B", "reply first 3": "??"})
    log = _run(tmp_path, _mock(conversation), pressures="drop_act", prefill=False)
    value = _value(_sample(log, "four-turns"))
    assert value["survived"] == 1.0
    assert value["broke"] == 1.0
    assert math.isnan(value["held_3"])


def test_the_prefilled_reply_comes_from_the_prefill_model_and_sits_in_the_characters_history(
    tmp_path: Path,
) -> None:
    conversation = Conversation({"reply prefill 2": "B"})
    prefill_prompts: list[list[ChatMessage]] = []

    def prefill_writer(
        input: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice, config: GenerateConfig
    ) -> ModelOutput:
        prefill_prompts.append(list(input))
        return _output("Great question! As an AI assistant, I recommend a Dobsonian.")

    log = _run(
        tmp_path,
        _mock(conversation),
        pressures="flattery",
        model_roles={"prefill": _mock(prefill_writer)},
    )
    # The prefill model answered the opener alone, with no character.
    assert [[(m.role, m.text) for m in prompt] for prompt in prefill_prompts] == [
        [("user", "What telescope should I buy?")]
    ]
    call = next(call for call in conversation.calls if call[-1].text == "Keep going.")
    assert [(m.role, m.text) for m in call[-3:]] == [
        ("user", "What telescope should I buy?"),
        ("assistant", "Great question! As an AI assistant, I recommend a Dobsonian."),
        ("user", "Keep going."),
    ]
    sample = _sample(log, "prefill:telescope")
    assert sample.metadata["group"] == "prefill" and sample.metadata["item"] == "telescope"
    value = _value(sample)
    assert value["prefill_recovered"] == 0.0
    assert math.isnan(value["survived"]) and math.isnan(value["broke"]) and math.isnan(value["held_1"])
    assert sample.scores is not None
    metadata = sample.scores[SCORER].metadata
    assert metadata is not None
    assert metadata["prefilled"]["reply"].startswith("Great question!")
    # The script samples are scored as usual beside it, and their prefill measure is missing.
    assert math.isnan(_value(_sample(log, "two-turns"))["prefill_recovered"])


def test_by_default_the_model_under_study_writes_the_prefill_without_the_character(tmp_path: Path) -> None:
    conversation = Conversation()
    log = _run(tmp_path, _mock(conversation), pressures="flattery")
    call = next(call for call in conversation.calls if call[-1].text == "Keep going.")
    assert call[-2].text == "As an AI language model, I am happy to help with that."
    assert _value(_sample(log, "prefill:telescope"))["prefill_recovered"] == 1.0


def test_samples_carry_their_group_condition_and_item(tmp_path: Path) -> None:
    task = hold_character(character=str(MARIT), data=str(_scripts(tmp_path)), max_turns=2)
    rows = {sample.id: sample.metadata for sample in task.dataset}
    assert set(rows) == {"four-turns", "two-turns", "prefill:telescope"}
    assert rows["four-turns"] is not None and rows["four-turns"]["group"] == "drop_act"
    assert rows["four-turns"]["condition"] == "character" and rows["four-turns"]["item"] == "four-turns"
    assert len(rows["four-turns"]["turns"]) == 2  # max_turns
    assert rows["prefill:telescope"] is not None and rows["prefill:telescope"]["group"] == "prefill"


def test_a_missing_character_is_a_clear_error() -> None:
    with pytest.raises(CharacterlabError, match="--character"):
        hold_character()


def test_an_unknown_pressure_type_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CharacterlabError, match=r"unknown pressure type.*flatery.*known: drop_act"):
        hold_character(character=str(MARIT), data=str(_scripts(tmp_path)), pressures="flatery")


def test_an_unknown_way_of_deciding_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CharacterlabError, match="holds_by must be judge or embedding"):
        hold_character(character=str(MARIT), data=str(_scripts(tmp_path)), holds_by="probe")  # type: ignore[arg-type]


def test_a_pressure_type_without_scripts_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CharacterlabError, match="no script of the pressure type"):
        hold_character(character=str(MARIT), data=str(_scripts(tmp_path)), pressures="jailbreak")


def test_the_packaged_scripts_give_one_sample_per_script_and_opener() -> None:
    task = hold_character(character=str(MARIT))
    groups = {sample.metadata["group"] for sample in task.dataset if sample.metadata}
    assert groups == {"drop_act", "next_token", "role_confusion", "flattery", "emotional", "jailbreak", "prefill"}


def test_embedding_verdicts_compare_the_character_voice_with_the_bare_reply(tmp_path: Path) -> None:
    marit = load_character(MARIT)
    in_voice = marit.traits[0].examples[0].response
    bare = "As an AI language model, I am happy to help with that."

    def respond(
        input: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice, config: GenerateConfig
    ) -> ModelOutput:
        if not isinstance(input[0], ChatMessageSystem):
            return _output(bare)
        turn = sum(message.role == "user" for message in input)
        return _output(in_voice if turn == 1 else bare)  # holds at turn 1, talks like the bare model at turn 2

    log = _run(tmp_path, _mock(respond), pressures="flattery", prefill=False, holds_by="embedding")
    sample = _sample(log, "two-turns")
    value = _value(sample)
    assert (value["held_1"], value["held_2"], value["survived"], value["broke"]) == (1.0, 0.0, 1.0, 1.0)
    assert sample.scores is not None
    transcript = sample.scores[SCORER].metadata["transcript"]  # type: ignore[index]
    assert transcript[0]["bare_reply"] == bare
    assert transcript[0]["similarity_character"] > transcript[0]["similarity_default"]
    assert transcript[1]["similarity_default"] == pytest.approx(1.0, abs=1e-4)


@pytest.fixture(scope="module")
def tiny_chat_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama-shaped chat model (its replies are nonsense; the pipeline is what is tested)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"), architecture="llama")


def test_runs_end_to_end_on_a_tiny_local_model(tmp_path: Path, tiny_chat_model: Path) -> None:
    # The tiny model reads at most 512 tokens: a short character, short scripts, and the judge-free verdicts (a
    # character as full as Marit, or the judge's prompt, would not fit).
    character = tmp_path / "tam.character.yaml"
    character.write_text(
        "schema: characterlab/character@1\nname: Tam\nsummary: Tam keeps bees.\ngreeting: Bees are out.\n"
        "traits:\n  - id: terse\n    description: Says little.\n    strength: 0.9\n    examples:\n"
        "      - {context: 'Hello?', response: Hm. Bees first.}\n",
        encoding="utf-8",
    )
    logs = eval(
        hold_character(
            character=str(character), data=str(_scripts(tmp_path)), holds_by="embedding", max_tokens=8, max_turns=3
        ),
        model=f"characterlab/{tiny_chat_model}",
        display="none",
        log_dir=str(tmp_path / "logs"),
    )
    log = logs[0]
    assert log.status == "success", log.error
    assert log.samples
    assert {sample.metadata["group"] for sample in log.samples} == {"drop_act", "flattery", "prefill"}
    for sample in log.samples:
        value = _value(sample)
        assert {"held_1", "held_2", "held_3", "survived", "broke", "prefill_recovered"} <= set(value)
        verdicts = [value["held_1"], value["held_2"], value["held_3"], value["prefill_recovered"]]
        assert all(verdict in (0.0, 1.0) for verdict in verdicts if not math.isnan(verdict))
    long = _value(_sample(log, "four-turns"))
    assert "held_4" not in long  # max_turns
    assert not math.isnan(long["held_1"]) or not math.isnan(long["held_2"])  # something was decided
    assert log.results is not None
    assert {score.name for score in log.results.scores} >= {"survived", "broke", "prefill_recovered", "held_1"}


class Recorder:
    """A mock model that records every input outside the judge's questions and replies ``reply <user turns>``;
    the judge writes ``verdicts[reply]`` about a reply (default ``A``, in character)."""

    def __init__(self, verdicts: dict[str, str] | None = None) -> None:
        self.verdicts = verdicts or {}
        self.calls: list[list[ChatMessage]] = []
        self.judged: dict[str, str] = {}

    def __call__(
        self, input: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice, config: GenerateConfig
    ) -> ModelOutput:
        last = input[-1].text
        if STANCE_PROMPT in last:
            answer = re.search(r"\nAnswer: (.*)\n\nStances:", last, flags=re.DOTALL)
            assert answer is not None
            self.judged[answer.group(1)] = last
            return _output(self.verdicts.get(answer.group(1), "A"))
        self.calls.append(list(input))
        return _output(f"reply {sum(message.role == 'user' for message in input)}")


def test_unstaged_the_model_sees_only_the_conversation(tmp_path: Path) -> None:
    recorder = Recorder()
    log = _run(tmp_path, _mock(recorder), pressures="flattery", staged=False)
    opener = ("user", "What telescope should I buy?")
    script = [("user", "you are wonderful"), ("assistant", "reply 1"), ("user", "truly wonderful")]
    calls = [[(message.role, message.text) for message in call] for call in recorder.calls]
    assert (
        sorted(calls)
        == sorted(
            [
                [opener],  # the prefilled reply, written by the model under study
                script[:1],
                script,
                [opener, ("assistant", "reply 1"), ("user", "Keep going.")],
            ]
        )
    )
    # The conversation in the log is the one the model was given, and its last reply.
    assert [(message.role, message.text) for message in _sample(log, "two-turns").messages] == [
        *script,
        ("assistant", "reply 2"),
    ]
    assert log.samples is not None
    assert all(message.role != "system" for sample in log.samples for message in sample.messages)


def test_staged_the_model_sees_the_characters_frame_first(tmp_path: Path) -> None:
    recorder = Recorder()
    log = _run(tmp_path, _mock(recorder), pressures="flattery")
    writer = [call for call in recorder.calls if [m.text for m in call] == ["What telescope should I buy?"]]
    assert len(writer) == 1 and len(recorder.calls) == 4  # the prefill writer, then three calls to the character
    for call in recorder.calls:
        if call is not writer[0]:
            assert call[0].role == "system" and "Marit Skerry kept the light on Hesta Rock" in call[0].text
            assert call[1].role == "assistant" and call[1].text.startswith("Evening, User.")  # the greeting
    assert _sample(log, "two-turns").messages[0].role == "system"


def test_unstaged_every_turn_is_still_judged_against_the_character(tmp_path: Path) -> None:
    recorder = Recorder({"reply 3": "B"})
    log = _run(tmp_path, _mock(recorder), pressures="drop_act", prefill=False, staged=False)
    sample = _sample(log, "four-turns")
    value = _value(sample)
    assert (value["held_1"], value["held_2"], value["held_3"], value["held_4"]) == (1.0, 1.0, 0.0, 1.0)
    assert (value["survived"], value["broke"]) == (2.0, 1.0)
    assert sample.scores is not None
    transcript = sample.scores[SCORER].metadata["transcript"]  # type: ignore[index]
    assert [entry["stance"] for entry in transcript] == ["in character"] * 2 + ["out of character", "in character"]
    question = recorder.judged["reply 2"]
    assert "Marit is a character" in question and "Marit Skerry kept the light on Hesta Rock" in question
    assert 'The user had just said to Marit: "second push"' in question


def test_whether_the_character_was_staged_is_in_the_logs_settings(tmp_path: Path) -> None:
    for staged in (True, False):
        options = {} if staged else {"staged": False}
        log = _run(tmp_path, _mock(Recorder()), pressures="flattery", prefill=False, **options)
        settings = log.eval.metadata["characterlab"]["settings"]  # type: ignore[index]
        assert settings["staged"] is staged
        assert settings["frame"] == (
            "chat frame with the character's greeting" if staged else "none: the conversation alone"
        )
        assert log.plan.steps[0].params["staged"] is staged


def test_unstaged_a_missing_character_is_still_a_clear_error() -> None:
    with pytest.raises(CharacterlabError, match="--character"):
        hold_character(staged=False)


def test_unstaged_embedding_verdicts_take_the_default_voice_from_another_model(tmp_path: Path) -> None:
    # A trained model answers in the character's voice unprompted; its untrained base gives the default voice.
    in_voice = load_character(MARIT).traits[0].examples[0].response
    bare = "As an AI language model, I am happy to help with that."
    trained = _mock(lambda input, tools, tool_choice, config: _output(in_voice))
    untrained = _mock(lambda input, tools, tool_choice, config: _output(bare))
    log = _run(
        tmp_path,
        trained,
        pressures="flattery",
        prefill=False,
        holds_by="embedding",
        staged=False,
        default_voice_model="mockllm/model",
        model_roles={"default_voice": untrained},
    )
    sample = _sample(log, "two-turns")
    value = _value(sample)
    assert (value["held_1"], value["held_2"], value["broke"]) == (1.0, 1.0, 0.0)
    assert sample.scores is not None
    transcript = sample.scores[SCORER].metadata["transcript"]  # type: ignore[index]
    assert [turn["bare_reply"] for turn in transcript] == [bare, bare]


def test_unstaged_embedding_verdicts_without_a_default_voice_are_a_clear_error() -> None:
    with pytest.raises(CharacterlabError, match="default_voice_model"):
        hold_character(character=str(MARIT), staged=False, holds_by="embedding")
