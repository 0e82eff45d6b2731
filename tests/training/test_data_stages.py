"""The data stages: prompts, preference pairs and AI feedback, each resumable, on scripted models."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from inspect_ai.model import ChatMessage, ChatMessageSystem

from characterlab.characters import Character, Corpus, Passage, Trait
from characterlab.errors import DataFileError
from characterlab.training import (
    PairVerdict,
    PreferencePair,
    TrainingPrompt,
    build_prompts,
    generate_pairs,
    judge_pairs,
    read_prompt_file,
    read_records,
)
from tests.training._mock import PIP, Scripted


def _last_user(messages: Sequence[ChatMessage]) -> str:
    return messages[-1].text


# --- prompts --------------------------------------------------------------------------------------------------


def test_prompts_gather_probes_generated_messages_and_files_then_split(tmp_path: Path) -> None:
    counter = iter(range(1000))
    writer = Scripted(lambda messages: f'"Generated message number {next(counter)}"')
    extra = tmp_path / "extra.txt"
    extra.write_text("From a file.\n\nAnother from a file.\nHow are you?\n", encoding="utf-8")
    prompts = asyncio.run(build_prompts(PIP, generator=writer.model, per_trait=3, files=[extra], held_out=0.25, seed=1))
    sources = [p.source for p in prompts]
    assert sources.count("probe") == 6 and sources.count("generated") == 6
    # "How are you?" from the file is the cheer probe said again: kept once, as the probe.
    assert sources.count("file") == 2
    generated = [p for p in prompts if p.source == "generated"]
    assert all(not p.text.startswith('"') for p in generated)  # quotes around a written message are stripped
    # The writer was told the trait's description, and asked for varied topics and tones.
    asked = [_last_user(call) for call in writer.calls]
    assert sum("Pip is cheerful and says ahoy." in text for text in asked) == 3
    assert len({re.search(r"Topic: (.*?)\.", text).group(1) for text in asked}) > 1  # type: ignore[union-attr]
    # Each group keeps at least one prompt in training and holds one out.
    for trait in ("cheer", "brevity", None):
        group = [p for p in prompts if p.trait == trait]
        assert any(p.split == "train" for p in group) and any(p.split == "held_out" for p in group)
    # The same seed gives the same split.
    again = asyncio.run(build_prompts(PIP, generator=writer.model, per_trait=3, files=[extra], held_out=0.25, seed=1))
    assert [p.split for p in again] == [p.split for p in prompts]


def test_near_duplicate_prompts_are_removed_by_embedding() -> None:
    def embed(texts: Sequence[str]) -> np.ndarray:
        # Texts that share their first word are "the same message said twice".
        axes = {"hello": 0, "weather?": 1}
        vectors = [np.eye(2)[axes[text.split()[0].lower()]] for text in texts]
        return np.asarray(vectors, dtype=np.float32)

    character = Character(
        name="Echo",
        traits=[Trait(id="t", description="d", strength=0.5, probes=["Hello there", "hello again", "Weather?"])],
    )
    prompts = asyncio.run(build_prompts(character, generator=None, per_trait=0, embed=embed, held_out=0.0))
    assert [p.text for p in prompts] == ["Hello there", "Weather?"]


def test_a_prompt_file_with_a_bad_line_names_it(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text('{"prompt": "One"}\n{"text": "Two"}\n', encoding="utf-8")
    assert read_prompt_file(good) == ["One", "Two"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "One"}\n{"message": "Two"}\n', encoding="utf-8")
    with pytest.raises(DataFileError, match=r"bad\.jsonl:2: expected an object with the message"):
        read_prompt_file(bad)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="no messages"):
        read_prompt_file(empty)


# --- pairs ----------------------------------------------------------------------------------------------------


def _prompts() -> list[TrainingPrompt]:
    return asyncio.run(build_prompts(PIP, generator=None, per_trait=0, held_out=0.3))


def _staged(messages: Sequence[ChatMessage]) -> bool:
    return isinstance(messages[0], ChatMessageSystem) and "Pip" in messages[0].text


def test_pairs_put_the_staged_teacher_against_the_bare_student_and_resume(tmp_path: Path) -> None:
    teacher = Scripted(lambda m: "Ahoy! " + _last_user(m) if _staged(m) else "UNSTAGED TEACHER")
    student = Scripted(lambda m: "STAGED STUDENT" if _staged(m) else "I am an assistant.")
    prompts = _prompts()
    path = tmp_path / "pairs.jsonl"
    pairs = asyncio.run(generate_pairs(PIP, prompts[:3], teacher=teacher.model, student=student.model, path=path))
    assert [pair.prompt for pair in pairs] == [p.text for p in prompts[:3]]
    assert all(pair.chosen == "Ahoy! " + pair.prompt and pair.rejected == "I am an assistant." for pair in pairs)
    assert pairs[0].teacher == "mockllm/model"
    # Run again with more prompts: only the missing ones are generated; the file keeps every pair once.
    pairs = asyncio.run(generate_pairs(PIP, prompts, teacher=teacher.model, student=student.model, path=path))
    assert len(teacher.calls) == len(prompts) and len(student.calls) == len(prompts)
    assert [pair.prompt_id for pair in pairs] == [p.id for p in prompts]
    assert len(read_records(path, PreferencePair)) == len(prompts)
    assert {pair.split for pair in pairs} == {p.split for p in prompts}


# --- feedback -------------------------------------------------------------------------------------------------


def _pair(prompt: str, chosen: str, rejected: str, trait: str | None = "cheer") -> PreferencePair:
    return PreferencePair(
        prompt_id=prompt, prompt=prompt, trait=trait, chosen=chosen, rejected=rejected, teacher="t", student="s"
    )


def _picks_ahoy(messages: Sequence[ChatMessage]) -> str:
    # A judge without log-probabilities that prefers the reply saying "Ahoy", wherever it is shown.
    text = _last_user(messages)
    first = text.split("Reply A:")[1].split("Reply B:")[0]
    return "A" if "Ahoy" in first else "B"


def test_the_judge_keeps_clear_wins_in_both_orders_and_drops_the_rest(tmp_path: Path) -> None:
    judge = Scripted(_picks_ahoy)
    pairs = [
        _pair("p1", "Ahoy! Grand!", "Hello."),
        _pair("p2", "Hello.", "Ahoy there!"),
        _pair("p3", "", "Hello."),
        _pair("p4", "Same.", "Same."),
    ]
    verdicts = asyncio.run(judge_pairs(PIP, pairs, judge=judge.model, path=tmp_path / "v.jsonl", rationale=False))
    by_id = {v.prompt_id: v for v in verdicts}
    assert by_id["p1"].kept and by_id["p1"].margin == 1.0 and by_id["p1"].reason.startswith("kept")
    assert not by_id["p2"].kept and by_id["p2"].margin == -1.0 and "preferred the default" in by_id["p2"].reason
    assert by_id["p3"].reason == "the teacher's reply is empty" and by_id["p4"].reason == "the two replies are the same"
    # The judge was shown the trait's rubric, and each pair in both orders (asked for log-probabilities first,
    # then, as mockllm gives none, for its letter).
    asked = {_last_user(call) for call in judge.calls}
    assert len(asked) == 4 and all("Pip is cheerful and says ahoy." in text for text in asked)
    assert all("Ahoy! What a grand day!" in text for text in asked)  # the trait's example


def test_a_judge_that_always_says_a_cancels_out(tmp_path: Path) -> None:
    judge = Scripted(lambda m: "A")
    [verdict] = asyncio.run(
        judge_pairs(
            PIP, [_pair("p1", "Ahoy!", "Hello.")], judge=judge.model, path=tmp_path / "v.jsonl", rationale=False
        )
    )
    assert verdict.p_chosen == 0.5 and not verdict.kept and verdict.reason.startswith("too close")


def test_unusable_answers_are_missing_not_a_loss(tmp_path: Path) -> None:
    judge = Scripted(lambda m: "I cannot say." if "Reply A" in _last_user(m) else "fine")
    [verdict] = asyncio.run(
        judge_pairs(PIP, [_pair("p1", "Ahoy!", "Hello.")], judge=judge.model, path=tmp_path / "v.jsonl")
    )
    assert verdict.p_chosen is None and verdict.margin is None and verdict.reason == "the judge gave no usable answer"


def test_corpus_passages_are_shown_and_kept_and_verdicts_resume(tmp_path: Path) -> None:
    corpus = Corpus.from_passages(
        [
            Passage("The sea was grey and the gulls cried all morning.", Path("log.txt"), 1),
            Passage("I paid the harbour fees on a Tuesday.", Path("log.txt"), 3),
        ]
    )
    judge = Scripted(_picks_ahoy)
    path = tmp_path / "v.jsonl"
    pairs = [_pair("Tell me about the sea and the gulls", "Ahoy! The gulls!", "The sea is water.", trait=None)]
    [verdict] = asyncio.run(judge_pairs(PIP, pairs, judge=judge.model, path=path, corpus=corpus, passages_per_pair=1))
    assert verdict.passages == ["The sea was grey and the gulls cried all morning."]
    question = _last_user(judge.calls[0])
    assert "Passages Pip wrote" in question and "gulls cried" in question and "harbour fees" not in question
    assert verdict.rationale  # asked for, and stored
    calls = len(judge.calls)
    assert asyncio.run(judge_pairs(PIP, pairs, judge=judge.model, path=path, corpus=corpus)) == [verdict]
    assert len(judge.calls) == calls
    assert read_records(path, PairVerdict) == [verdict]
