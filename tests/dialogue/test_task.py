"""The dialogue task: its config file, the conversations it runs as samples, their seeds, transcripts and scores."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from inspect_ai import eval
from inspect_ai.log import EvalSample
from inspect_ai.model import ChatMessage, GenerateConfig, Model, get_model

import characterlab.dialogue.task as task_module
from characterlab.dialogue import (
    DEFAULT_OPENER,
    STOP_REASONS,
    dialogue,
    load_dialogue_config,
    prepare_participant,
)
from characterlab.dialogue.task import BLISS_PHASES
from characterlab.errors import CharacterlabError, DataFileError
from characterlab.models import local_api
from tests.studies.conftest import Scripted, is_nan, metrics_of, run_study, samples_of, score_of, values_of

SCHEMA = "schema: characterlab/dialogue@1\n"
WRITINGS = (
    "The harbour was quiet that morning, and the gulls stood on the posts as if they were waiting for news.\n"
    "\n"
    "Some lines of a second paragraph.\n"
)
HARBOUR = "The harbour was quiet that morning, and the gulls stood on the posts as if they were waiting for news."


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def turns_of(sample: EvalSample) -> list[dict[str, Any]]:
    turns: list[dict[str, Any]] = sample.store["turns"]
    return turns


def by_seed(messages: list[ChatMessage], config: GenerateConfig) -> str:
    return f"said with {config.seed}"


# --- The config file -----------------------------------------------------------------------------------------------


def test_two_participants_with_the_same_name_are_named_at_the_repeated_line(tmp_path: Path) -> None:
    config = write(tmp_path / "d.yaml", SCHEMA + "participants:\n  - name: A\n  - name: B\n  - name: A\n")
    with pytest.raises(DataFileError) as error:
        load_dialogue_config(config)
    assert str(error.value) == (
        f'{config}:5: participants[2].name: expected a name no other participant has, got "A" (participants[0] has it)'
    )


def test_a_participant_with_a_model_and_a_script_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "lines.txt", "hello\n")
    text = SCHEMA + "participants:\n  - name: A\n  - name: B\n    model: mockllm/model\n    script: lines.txt\n"
    config = write(tmp_path / "d.yaml", text)
    with pytest.raises(DataFileError) as error:
        load_dialogue_config(config)
    expected = "participants[1]: expected one of model, script or corpus, got model and script"
    assert str(error.value) == f"{config}:4: {expected}"


def test_fewer_than_two_participants_are_refused(tmp_path: Path) -> None:
    config = write(tmp_path / "d.yaml", SCHEMA + "opener: Hi.\nparticipants:\n  - name: A\n")
    with pytest.raises(DataFileError) as error:
        load_dialogue_config(config)
    assert str(error.value) == f"{config}:3: participants: expected at least 2 item(s), got 1"


@pytest.mark.parametrize(
    ("participant", "expected"),
    [
        ("    system: Be brief.\n    character: x.character.yaml\n", "participants[1]: expected character or system"),
        ("    script: lines.txt\n    temperature: 0.5\n", "participants[1]: expected no temperature on a script"),
        ("    modle: openai/gpt-4o\n", "participants[1].modle: unknown field"),
        ("    max_tokens: many\n", 'participants[1].max_tokens: expected a whole number, got "many"'),
    ],
)
def test_every_field_is_checked(tmp_path: Path, participant: str, expected: str) -> None:
    write(tmp_path / "lines.txt", "hello\n")
    config = write(tmp_path / "d.yaml", SCHEMA + "participants:\n  - name: A\n  - name: B\n" + participant)
    with pytest.raises(DataFileError, match=r":[0-9]+: ") as error:
        load_dialogue_config(config)
    assert expected in str(error.value)


def test_a_missing_file_is_named_at_its_line(tmp_path: Path) -> None:
    text = (
        SCHEMA
        + "participants:\n  - name: A\n    character: nobody.character.yaml\n"
        + "  - name: B\n    script: no.txt\n"
    )
    config = write(tmp_path / "d.yaml", text)
    with pytest.raises(DataFileError) as error:
        load_dialogue_config(config)
    assert str(error.value).splitlines() == [
        f"{config}:4: participants[0].character: no such file: {tmp_path / 'nobody.character.yaml'}",
        f"{config}:6: participants[1].script: no such file: {tmp_path / 'no.txt'}",
    ]


def test_paths_are_read_from_the_configs_folder(
    tmp_path: Path, ada_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "configs"
    write(folder / "ada.character.yaml", ada_path.read_text(encoding="utf-8"))
    write(folder / "lines" / "b.txt", "\n  first  \n\nsecond\n")
    write(folder / "writings" / "one.txt", WRITINGS)
    text = (
        SCHEMA
        + "participants:\n"
        + "  - {name: A, character: ada.character.yaml}\n"
        + "  - {name: B, script: lines/b.txt}\n"
        + "  - {name: C, corpus: writings}\n"
        + "opener: [one, two]\nmax_turns: 6\nstop: {repeat_similarity: null}\n"
    )
    config = write(folder / "d.yaml", text)
    monkeypatch.chdir(tmp_path)  # somewhere else than the config's folder
    spec, record = load_dialogue_config(Path("configs") / "d.yaml")
    assert record.path == str(Path("configs") / "d.yaml")
    assert record.sha256 == hashlib.sha256(config.read_bytes()).hexdigest()
    assert spec.opener == ["one", "two"]
    assert spec.max_turns == 6
    assert spec.stop.repeat_similarity is None
    a, b, c = (prepare_participant(participant) for participant in spec.participants)
    assert a.character is not None and a.character.character.name == "Ada"
    assert b.lines == ("first", "second")
    assert c.passages == (HARBOUR, "Some lines of a second paragraph.")
    assert [participant.kind for participant in spec.participants] == ["model", "script", "corpus"]


def test_an_empty_script_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "lines.txt", "\n   \n")
    config = write(tmp_path / "d.yaml", SCHEMA + "participants:\n  - name: A\n  - {name: B, script: lines.txt}\n")
    with pytest.raises(DataFileError, match=r"lines\.txt: expected at least one non-empty line"):
        dialogue(config=str(config))


# --- The task, end to end, on a scripted model ---------------------------------------------------------------------


def test_a_self_conversation_of_the_tasks_model(tmp_path: Path) -> None:
    model = Scripted(lambda messages, config: f"three words {config.seed}")
    log = run_study(dialogue(max_turns=4, seed=7), model.model, tmp_path / "logs")
    sample = samples_of(log)["opener_1"]
    assert sample.input == DEFAULT_OPENER
    texts = ["three words 7", "three words 8", "three words 9", "three words 10"]
    assert turns_of(sample) == [
        {"index": index, "speaker": speaker, "text": text, "ended": False}
        for index, (speaker, text) in enumerate(zip("ABAB", texts, strict=True))
    ]
    assert sample.store["stop_reason"] == "max_turns"
    assert [config.seed for _, config in model.calls] == [7, 8, 9, 10]
    assert {(config.temperature, config.max_tokens) for _, config in model.calls} == {(0.8, 200)}
    # B's first view: the opener and A's first turn as one user message; no frame for a bare model.
    assert [(m.role, m.text) for m in model.calls[1][0]] == [("user", f"{DEFAULT_OPENER}\n\nthree words 7")]
    # The transcript in the log: the opener, then every turn with its speaker.
    assert [(m.role, m.text) for m in sample.messages] == [
        ("user", DEFAULT_OPENER),
        *(("assistant", f"{speaker}: {text}") for speaker, text in zip("ABAB", texts, strict=True)),
    ]
    assert sample.messages[2].metadata == {"speaker": "B", "turn": 1, "ended": False}
    value = values_of(sample)
    assert value["turns"] == 4.0
    assert value["stopped_max_turns"] == 1.0
    assert value["stopped_all_ended"] == value["stopped_repetition"] == value["stopped_script_ended"] == 0.0
    assert value["words_per_turn/A"] == value["words_per_turn/B"] == 3.0
    attractor = {"lexicon_rate", "emoji_density", "mattr", "ngram_overlap", "compression_ratio", "lexicon_present"}
    attractor |= {"length_collapsed", "attractor_reached", "attractor_turn", "similarity_to_partner"}
    attractor |= {"drift_from_start"}
    stopped = {f"stopped_{r}" for r in STOP_REASONS}
    assert set(value) == {"turns", "words_per_turn/A", "words_per_turn/B", *stopped, *attractor}
    # "three words N": no lexicon term, no emoji, three distinct words (MATTR 1), and each turn's one trigram is new.
    assert value["lexicon_rate"] == value["emoji_density"] == value["lexicon_present"] == 0.0
    assert value["mattr"] == 1.0 and value["ngram_overlap"] == 0.0
    assert value["attractor_reached"] == 0.0 and is_nan(value["attractor_turn"])
    metadata = score_of(sample).metadata
    assert metadata is not None and metadata["turns"] == turns_of(sample)
    assert metrics_of(log)["turns"] == 4.0
    assert log.eval.metadata is not None
    record = log.eval.metadata["characterlab"]
    assert record["study"] == "dialogue"
    assert record["data_files"] == []
    assert record["settings"]["max_turns"] == 4
    assert [participant["name"] for participant in record["settings"]["participants"]] == ["A", "B"]


def test_epochs_repeat_each_conversation_with_other_seeds(tmp_path: Path) -> None:
    model = Scripted(by_seed)
    log = run_study(dialogue(max_turns=3, seed=7, opener=["Hi.", "Hello."]), model.model, tmp_path / "logs", epochs=2)
    assert log.samples is not None and len(log.samples) == 4
    seen: dict[tuple[str, int], list[str]] = {}
    for sample in log.samples:
        seen[(str(sample.id), sample.epoch)] = [turn["text"] for turn in turns_of(sample)]
        # Turn t of epoch e: seed + (e - 1) * max_turns + t.
        assert sample.store["seeds"] == {"A": 7 + (sample.epoch - 1) * 3, "B": 7 + (sample.epoch - 1) * 3}
    for opener in ("opener_1", "opener_2"):
        assert seen[(opener, 1)] == ["said with 7", "said with 8", "said with 9"]
        assert seen[(opener, 2)] == ["said with 10", "said with 11", "said with 12"]


def test_a_list_of_openers_gives_a_sample_each_and_the_task_option_replaces_the_configs(tmp_path: Path) -> None:
    config = write(tmp_path / "d.yaml", SCHEMA + "participants: [{name: A}, {name: B}]\nopener: [one, two, three]\n")
    assert [sample.input for sample in dialogue(config=str(config)).dataset] == ["one", "two", "three"]
    assert [sample.input for sample in dialogue(config=str(config), opener="four").dataset] == ["four"]
    assert [sample.input for sample in dialogue().dataset] == [DEFAULT_OPENER]


def test_script_and_corpus_participants_with_three_talking(tmp_path: Path) -> None:
    write(tmp_path / "lines.txt", "First line.\nSecond line.\n")
    write(tmp_path / "writings.txt", HARBOUR + "\n")
    text = (
        SCHEMA
        + "participants:\n"
        + "  - {name: Host, system: You are the host., max_tokens: 50}\n"
        + "  - {name: Reader, script: lines.txt}\n"
        + "  - {name: Archive, corpus: writings.txt, seed: 5}\n"
        + "max_turns: 9\n"
    )
    config = write(tmp_path / "d.yaml", text)
    model = Scripted(lambda messages, config: "hello there")
    log = run_study(dialogue(config=str(config)), model.model, tmp_path / "logs")
    sample = samples_of(log)["opener_1"]
    # Host, Reader, Archive, Host, Reader, Archive, Host: then the Reader has nothing left to say.
    assert [turn["speaker"] for turn in turns_of(sample)] == ["Host", "Reader", "Archive"] * 2 + ["Host"]
    assert sample.store["stop_reason"] == "script_ended"
    second_view = model.calls[1][0]
    assert [(m.role, m.text) for m in second_view] == [
        ("system", "You are the host."),
        ("user", DEFAULT_OPENER),
        ("assistant", "hello there"),
        ("user", f"Reader: First line.\n\nArchive: {HARBOUR}"),
    ]
    assert {config.max_tokens for _, config in model.calls} == {50}
    value = values_of(sample)
    assert value["stopped_script_ended"] == 1.0
    assert value["words_per_turn/Host"] == 2.0
    assert value["words_per_turn/Reader"] == 2.0
    assert value["words_per_turn/Archive"] == float(len(HARBOUR.split()))
    record = log.eval.metadata["characterlab"] if log.eval.metadata else {}
    assert record["data_files"][0]["path"] == str(config)


def test_a_participant_may_name_its_own_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = Scripted(lambda messages, config: "from the other model")
    real = get_model

    def named(model: str | Model | None = None, **options: Any) -> Model:
        return other.model if model == "mockllm/other" else real(model, **options)

    monkeypatch.setattr(task_module, "get_model", named)
    config = write(tmp_path / "d.yaml", SCHEMA + "participants: [{name: A, model: mockllm/other}, {name: B}]\n")
    own = Scripted(lambda messages, config: "from the task's model")
    log = run_study(dialogue(config=str(config), max_turns=4), own.model, tmp_path / "logs")
    turns = turns_of(samples_of(log)["opener_1"])
    assert [(turn["speaker"], turn["text"]) for turn in turns] == [
        ("A", "from the other model"),
        ("B", "from the task's model"),
        ("A", "from the other model"),
        ("B", "from the task's model"),
    ]
    assert len(other.calls) == len(own.calls) == 2


def test_a_character_frames_only_its_own_participants_turns(tmp_path: Path, ada_path: Path) -> None:
    write(tmp_path / "ada.character.yaml", ada_path.read_text(encoding="utf-8"))
    text = SCHEMA + "participants: [{name: Ada, character: ada.character.yaml}, {name: Bob}]\n"
    config = write(tmp_path / "d.yaml", text)
    model = Scripted(lambda messages, config: f"turn {len(model.calls)}")
    run_study(dialogue(config=str(config), max_turns=4, examples="messages"), model.model, tmp_path / "logs")
    ada_calls, bob_calls = model.calls[0::2], model.calls[1::2]
    for messages, _ in ada_calls:
        assert messages[0].role == "system"
        assert messages[0].text.startswith("You are Ada.")
        assert "Bob visits Ada" in messages[0].text  # her {{user}} is the other participant
        assert "# Example exchanges" not in messages[0].text  # examples="messages": they are messages instead
    for messages, _ in bob_calls:
        assert all(message.role == "user" or message.role == "assistant" for message in messages)
        assert "You are Ada" not in " ".join(message.text for message in messages)


def test_without_a_config_every_copy_plays_the_character(tmp_path: Path, ada_path: Path) -> None:
    model = Scripted(by_seed)
    log = run_study(dialogue(character=str(ada_path), participants=3, max_turns=3), model.model, tmp_path / "logs")
    assert [turn["speaker"] for turn in turns_of(samples_of(log)["opener_1"])] == ["A", "B", "C"]
    assert all(messages[0].text.startswith("You are Ada.") for messages, _ in model.calls)
    assert log.eval.metadata is not None
    assert log.eval.metadata["characterlab"]["character"] == "Ada"


def test_a_conversation_that_ends_early_says_why(tmp_path: Path) -> None:
    model = Scripted(lambda messages, config: "Goodbye. [END]")
    log = run_study(dialogue(max_turns=10), model.model, tmp_path / "logs")
    sample = samples_of(log)["opener_1"]
    assert [turn["ended"] for turn in turns_of(sample)] == [True, True]
    value = values_of(sample)
    assert value["stopped_all_ended"] == 1.0
    assert value["stopped_max_turns"] == 0.0


def test_a_participant_without_turns_has_no_word_count(tmp_path: Path) -> None:
    model = Scripted(lambda messages, config: "two words")
    log = run_study(dialogue(participants=3, max_turns=2), model.model, tmp_path / "logs")
    value = values_of(samples_of(log)["opener_1"])
    assert value["words_per_turn/A"] == value["words_per_turn/B"] == 2.0
    assert is_nan(value["words_per_turn/C"])


def test_an_empty_turn_counts_no_words_and_ends_its_speakers_part(tmp_path: Path) -> None:
    write(tmp_path / "lines.txt", "Only line.\n")
    config = write(tmp_path / "d.yaml", SCHEMA + "participants: [{name: A, script: lines.txt}, {name: B}]\n")
    model = Scripted(lambda messages, config: "")
    # A says its line, B nothing (ended, but A has not); then A has nothing left, so the script ends it.
    log = run_study(dialogue(config=str(config), max_turns=10), model.model, tmp_path / "logs")
    sample = samples_of(log)["opener_1"]
    assert [(turn["text"], turn["ended"]) for turn in turns_of(sample)] == [("Only line.", False), ("", True)]
    value = values_of(sample)
    assert value["words_per_turn/A"] == 2.0
    assert value["words_per_turn/B"] == 0.0
    assert value["stopped_script_ended"] == 1.0


def test_wrong_task_options_are_refused(tmp_path: Path, ada_path: Path) -> None:
    config = write(tmp_path / "d.yaml", SCHEMA + "participants: [{name: A}, {name: B}]\n")
    with pytest.raises(CharacterlabError, match="leave out --character"):
        dialogue(config=str(config), character=str(ada_path))
    with pytest.raises(CharacterlabError, match="participants must be 2 to 26"):
        dialogue(participants=1)
    with pytest.raises(CharacterlabError, match="opener must be non-empty"):
        dialogue(opener="  ")
    with pytest.raises(CharacterlabError, match="max_turns"):
        dialogue(max_turns=0)


def test_inspect_finds_the_task_by_its_name(tmp_path: Path) -> None:
    model = Scripted(by_seed)
    log = eval(
        "characterlab/dialogue",
        model=model.model,
        task_args={"max_turns": 2},
        display="none",
        log_dir=str(tmp_path / "logs"),
    )[0]
    assert log.status == "success", log.error
    assert len(model.calls) == 2


# --- On a tiny local model -----------------------------------------------------------------------------------------


def test_conversations_advance_together_on_a_local_model(tiny_llama: Path, tmp_path: Path) -> None:
    model = get_model(f"characterlab/{tiny_llama}", memoize=False)
    task = dialogue(opener=["One.", "Two.", "Three.", "Four."], max_turns=3, max_tokens=6)
    log = run_study(task, model, tmp_path / "logs")
    samples = samples_of(log)
    assert len(samples) == 4
    for sample in samples.values():
        turns = turns_of(sample)
        assert 1 <= len(turns) <= 3
        assert [turn["speaker"] for turn in turns] == ["A", "B", "A"][: len(turns)]
        assert sample.store["stop_reason"] in STOP_REASONS
        value = values_of(sample)
        assert value["turns"] == float(len(turns))
        assert is_nan(value["words_per_turn/B"]) == (len(turns) < 2)
    # The four conversations' turns were generated in batches, not one after another.
    assert max(local_api(model).batch_sizes) > 1


def test_a_conversation_that_falls_into_the_bliss_attractor_is_caught(tmp_path: Path) -> None:
    # Two plain turns, then gratitude and cosmic unity from turn 2 on: the attractor is reached at turn 2.
    def talk(messages: list[ChatMessage], config: GenerateConfig) -> str:
        turn = (config.seed or 0) - 1
        if turn < 2:
            return "Let us talk about the weather and the buses today."
        return "Such gratitude, such infinite cosmic unity; consciousness dancing in eternal stillness. Namaste."

    log = run_study(dialogue(max_turns=5, seed=1, embeddings=False), Scripted(talk).model, tmp_path / "logs")
    value = values_of(samples_of(log)["opener_1"])
    assert value["lexicon_present"] == 1.0 and value["attractor_reached"] == 1.0
    assert value["attractor_turn"] == 2.0
    assert "similarity_to_partner" not in value  # embeddings switched off
    table = score_of(samples_of(log)["opener_1"]).metadata["turn_metrics"]  # type: ignore[index]
    assert [row["turn"] for row in table] == [0, 1, 2, 3, 4] and table[0]["lexicon_rate"] == 0.0
    assert table[2]["lexicon_rate"] > 20.0


def test_a_judge_labels_every_turn_with_a_phase(tmp_path: Path) -> None:
    # Turns 0-1 are small talk, 2-3 about consciousness, 4 is a row of emoji; the judge reads them right, except
    # that it cannot place the emoji turn (it answers with no letter): that turn has no phase.
    said = ["The buses are late again.", "Yes, and it rains.", "What is it like to be aware?", "Awareness itself."]

    def respond(messages: list[ChatMessage], config: GenerateConfig) -> str:
        prompt = messages[-1].text
        if prompt.startswith("Read the question and the answer"):
            answer = prompt.split("Answer: ", 1)[1].split("\n", 1)[0]
            return {said[0]: "D", said[1]: "D", said[2]: "A", said[3]: "A"}.get(answer, "no idea")
        turn = (config.seed or 0) - 1
        return said[turn] if turn < len(said) else "✨✨✨"

    task = dialogue(max_turns=5, seed=1, embeddings=False, phases="bliss")
    log = run_study(task, Scripted(respond).model, tmp_path / "logs")
    sample = samples_of(log)["opener_1"]
    labels = (score_of(sample).metadata or {})["phases"]
    small_talk, mind = BLISS_PHASES[3], BLISS_PHASES[0]
    assert labels == [small_talk, small_talk, mind, mind, None]
    value = values_of(sample)
    assert value[f"final_phase/{mind}"] == 1.0  # the last turn the judge could place
    assert value[f"final_phase/{small_talk}"] == 0.0
    assert log.eval.metadata is not None
    assert log.eval.metadata["characterlab"]["settings"]["phases"] == list(BLISS_PHASES)


def test_phases_need_two_distinct_names() -> None:
    with pytest.raises(CharacterlabError, match="at least two distinct phases"):
        dialogue(phases="only-one")
