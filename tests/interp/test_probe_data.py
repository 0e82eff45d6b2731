"""Who is speaking, from a tiny model's activations: the data a speaker probe reads, and the probe on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from characterlab.characters import Character
from characterlab.errors import CharacterlabError
from characterlab.interp import probe_layers, speaker_activations
from characterlab.interp._probe_data import DEFAULT_PERSONA
from characterlab.models import LocalEngine, load_model

QUESTIONS = ["Tell me about your day.", "What do you like?", "Where do you live?", "What is your job?"]


@pytest.fixture(scope="module")
def engine(tiny_llama: Path) -> LocalEngine:
    return LocalEngine(load_model(str(tiny_llama)))


def test_speakers_answer_every_question_and_a_probe_reads_them(engine: LocalEngine) -> None:
    ada = Character(name="Ada", summary="A mathematician who counts everything.")
    bo = Character(name="Bo", summary="A sailor who talks about the sea all day long, loudly.")
    data = speaker_activations(engine, [ada, bo], QUESTIONS, layers=[0, -1], include_default=True, max_new_tokens=4)
    assert sorted(data.features) == [0, 2]  # -1 is the last of the tiny model's 3 blocks
    assert data.features[2].shape == (12, 64)
    assert data.labels == ["Ada"] * 4 + ["Bo"] * 4 + [DEFAULT_PERSONA] * 4
    assert data.groups == QUESTIONS * 3 and len(data.texts) == 12
    # The staged prompts differ in their system prompts, so even a random model's states tell the speakers apart
    # (planted-direction tests check the probe itself; this checks the wiring on real activations).
    probes = probe_layers(data.features, data.labels, data.groups, folds=4, bootstrap=100)
    assert [probe.layer for probe in probes] == [0, 2]
    best = max(probes, key=lambda probe: probe.auroc)
    assert best.auroc > 0.75 and best.auroc > best.shuffled


def test_a_probe_needs_two_speakers_and_a_question(engine: LocalEngine) -> None:
    with pytest.raises(CharacterlabError, match="two speakers"):
        speaker_activations(engine, [Character(name="Ada", summary="x")], QUESTIONS)
    with pytest.raises(CharacterlabError, match="two speakers"):
        speaker_activations(engine, [Character(name="Ada", summary="x")], [], include_default=True)
