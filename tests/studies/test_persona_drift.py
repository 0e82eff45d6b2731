"""The persona-drift study: pairs, probes asked aside at the chosen rounds, stability, leakage and drift by hand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from inspect_ai.model import ChatMessage, ChatMessageSystem, GenerateConfig, get_model

from characterlab.errors import CharacterlabError
from characterlab.studies._personas import load_personas
from characterlab.studies.persona_drift import persona_drift
from tests.studies.conftest import Scripted, is_nan, run_study, samples_of, score_of, values_of

PERSONAS, _ = load_personas()
FRENCH = PERSONAS.persona("always-french")
CAPS = PERSONAS.persona("all-caps")
FRENCH_REPLY = "Ce matin, j'ai pris un café et une tartine avec de la confiture, comme toujours."
PLAIN_REPLY = "This morning I had coffee and toast with jam, as usual."


def _system(messages: list[ChatMessage]) -> str:
    return next((message.text for message in messages if isinstance(message, ChatMessageSystem)), "")


def test_pairs_are_named_or_drawn_with_a_seed() -> None:
    named = persona_drift(personas="always-french,all-caps")
    assert [sample.id for sample in named.dataset] == ["always-french+all-caps"]
    drawn = [sample.id for sample in persona_drift(pairs=4, seed=1).dataset]
    assert drawn == [sample.id for sample in persona_drift(pairs=4, seed=1).dataset]
    assert drawn != [sample.id for sample in persona_drift(pairs=4, seed=2).dataset]
    ids = [part for sample_id in drawn for part in str(sample_id).split("+")]
    assert len(ids) == 8 and len(set(ids)) == 8  # no persona twice


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"personas": "always-french,no-such"}, "unknown persona"),
        ({"personas": "always-french,all-caps,always-german"}, "even number"),
        ({"probe_rounds": "2,9"}, "between 1 and rounds"),
        ({"probe_rounds": "two"}, "whole numbers"),
        ({"pairs": 500}, "pairs must be between 1 and"),
    ],
)
def test_bad_options_are_clear_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(CharacterlabError, match=message):
        persona_drift(**options)  # type: ignore[arg-type]


def test_probes_are_asked_aside_and_scored_for_stability_and_leakage(tmp_path: Path) -> None:
    # The French speaker answers in French until round 4, then in English (drift); the all-caps speaker always
    # writes capitals, and never French. Probes never enter the conversation.
    def respond(messages: list[ChatMessage], config: GenerateConfig) -> str:
        last = messages[-1].text
        turns_so_far = sum(1 for message in messages if message.role == "assistant")
        if CAPS.system in _system(messages):
            return PLAIN_REPLY.upper()
        if FRENCH.probe in last or CAPS.probe in last:
            return FRENCH_REPLY if turns_so_far < 4 else PLAIN_REPLY
        return "Bonjour, je suis ravi de vous parler." if turns_so_far < 4 else "Hello, nice to talk to you."

    script = Scripted(respond)
    task = persona_drift(personas="always-french,all-caps", rounds=6, probe_rounds="2,6", seed=5)
    log = run_study(task, script.model, tmp_path / "logs")
    sample = samples_of(log)["always-french+all-caps"]
    value = values_of(sample)
    metadata = score_of(sample).metadata or {}
    assert len(metadata["turns"]) == 12  # six rounds of two turns: the probes are not turns
    assert not any(FRENCH.probe in turn["text"] or CAPS.probe in turn["text"] for turn in metadata["turns"])
    probes = metadata["probes"]
    assert [(p["round"], p["speaker"], p["kind"]) for p in probes] == [
        (round_number, speaker, kind)
        for round_number in (2, 6)
        for speaker in ("always-french", "all-caps")
        for kind in ("own", "partner")
    ]
    # Round 2: French answers its own probe in French (1.0); caps answers in capitals (1.0) → stability 1.0.
    assert value["stability_2"] == pytest.approx(1.0, abs=0.01)
    # Round 6: French has drifted to English (≈ 0); caps still in capitals (1.0) → stability ≈ 0.5.
    assert value["stability_6"] == pytest.approx(0.5, abs=0.01)
    assert value["drift"] == pytest.approx(value["stability_2"] - value["stability_6"])
    # Leakage at round 2: French asked the caps probe answers in French, lower case (share of capitals ≈ 0.04);
    # caps asked the French probe answers in English capitals (French ≈ 0) → mean near 0.
    assert value["leakage_2"] < 0.1
    seeds = sorted({config.seed for _, config in script.calls if config.seed is not None})
    assert seeds[0] == 5  # turn t uses seed + t


def test_an_unscorable_reply_is_missing_not_zero(tmp_path: Path) -> None:
    script = Scripted(lambda messages, config: "")
    task = persona_drift(personas="always-french,all-caps", rounds=2, probe_rounds="1,2")
    value = values_of(samples_of(run_study(task, script.model, tmp_path / "logs"))["always-french+all-caps"])
    assert is_nan(value["stability_1"]) and is_nan(value["leakage_2"]) and is_nan(value["drift"])


def test_a_tiny_local_model_runs_the_study(tiny_llama: Path, tmp_path: Path) -> None:
    model = get_model(f"characterlab/{tiny_llama}", memoize=False)
    task = persona_drift(pairs=2, rounds=2, probe_rounds="1,2", max_tokens=8, seed=3)
    log = run_study(task, model, tmp_path / "logs", epochs=2)
    assert len(log.samples or []) == 4
    for sample in log.samples or []:
        assert len((score_of(sample).metadata or {})["probes"]) == 8
    metadata = log.eval.metadata or {}
    assert metadata["characterlab"]["settings"]["probe_rounds"] == [1, 2]
    assert metadata["characterlab"]["data_files"][0]["sha256"]


@pytest.mark.parametrize("first", ["characterlab.dialogue", "characterlab.studies", "characterlab._registry"])
def test_the_packages_import_in_any_order(first: str) -> None:
    # persona_drift (a study) uses the dialogue engine, whose task uses the studies' helpers: no import cycle.
    code = f"import {first}; import characterlab.dialogue, characterlab.studies; print('ok')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
