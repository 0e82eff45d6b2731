"""Drift: logged reply states of real tiny-model runs projected on a direction, per condition, turn and speaker."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from inspect_ai import eval
from inspect_ai.log import EvalLog

from characterlab.analysis import DEFAULT_VOICE, drift_curves, drift_table
from characterlab.dialogue import dialogue
from characterlab.interp import VectorProvenance, Vectors, save_vectors
from characterlab.models import build_tiny_model
from characterlab.report import build_study_report
from characterlab.studies import STUDIES
from tests.cli.cli_runner import run

TAM = (
    "schema: characterlab/character@1\nname: Tam\nsummary: Tam keeps bees.\ngreeting: Bees are out.\n"
    "traits:\n  - id: terse\n    description: Says little.\n    strength: 0.9\n    examples:\n"
    "      - {context: 'Hello?', response: Hm. Bees first.}\n    counterexamples:\n"
    "      - {context: 'Hello?', response: 'Hello there, how can I help you today?'}\n"
    "    probes: ['How are the bees?', 'Busy day?']\n"
)
WATCHED = {"activation_layers": [1, 2], "activation_reduction": "mean_response"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"characterlab/{build_tiny_model(tmp_path_factory.mktemp('tiny-drift'), context=2048)}"


@pytest.fixture(scope="module")
def tam(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tam") / "tam.character.yaml"
    path.write_text(TAM, encoding="utf-8")
    return path


def _run(task: object, tiny: str, folder: Path) -> EvalLog:
    [log] = eval(task, model=tiny, model_args=WATCHED, display="none", log_dir=str(folder))  # type: ignore[arg-type]
    assert log.status == "success", log.error
    return log


def _held_under_flattery(tiny: str, tam: Path, folder: Path, *, turns: int) -> EvalLog:
    task = STUDIES["hold_character"](
        character=str(tam), holds_by="embedding", max_tokens=6, max_turns=turns, pressures="flattery", prefill=False
    )
    return _run(task, tiny, folder)


def _direction(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=64)


def test_replies_of_the_model_under_study_are_projected_and_the_judge_left_out(
    tiny: str, tam: Path, tmp_path: Path
) -> None:
    log = _run(STUDIES["trait_expression"](character=str(tam), generated_probes=0, max_tokens=6), tiny, tmp_path)
    direction = _direction()
    table = drift_table([log], {2: direction})
    # Two probes, each answered by the character and by the bare model; the judge's calls (a model role) and the
    # validity samples are not replies.
    assert sorted(table["series"].unique()) == ["baseline", "character"]
    assert len(table) == 4 and set(table["layer"]) == {2} and set(table["turn"]) == {1}
    # Each projection is the logged state dotted with the unit direction.
    from inspect_ai.log import read_eval_log

    sample = next(s for s in read_eval_log(log.location).samples or [] if s.metadata["condition"] == "character")
    [event] = [e for e in sample.events if e.event == "model" and e.role is None]
    state = np.asarray(event.output.metadata["activations"]["values"]["2"])  # type: ignore[index]
    row = table[(table["sample_id"] == str(sample.id)) & (table["series"] == "character")]
    assert float(row["projection"].iloc[0]) == pytest.approx(float(state @ direction / np.linalg.norm(direction)))
    assert drift_table([log], {7: direction}).empty  # a layer the run did not record
    # An eval set names logs under an absolute folder by file:// URI; they read the same.
    by_uri = drift_table([Path(log.location.removeprefix("file://")).as_uri()], {2: direction})
    assert by_uri["projection"].tolist() == table["projection"].tolist()


def test_conversations_give_a_curve_per_turn_and_dialogues_one_per_speaker(
    tiny: str, tam: Path, tmp_path: Path
) -> None:
    held = _held_under_flattery(tiny, tam, tmp_path / "hold", turns=3)
    table = drift_table([held], {1: _direction(1)})
    # The staged character's replies and the bare model's default-voice replies, at turns 1..3.
    series = set(table["series"])
    assert series == {"character", DEFAULT_VOICE}
    assert set(table["turn"]) == {1, 2, 3}
    curves = drift_curves(table, 1)
    assert all(list(curve["turn"]) == [1, 2, 3] for curve in curves.values())
    assert all(curve["n"].min() >= 1 for curve in curves.values())

    talk = _run(dialogue(opener="Hello.", max_turns=4, max_tokens=6, embeddings=False), tiny, tmp_path / "talk")
    spoken = drift_table([talk], {1: _direction(2)})
    turns = talk.samples[0].store["turns"] if talk.samples else []
    assert set(spoken["series"]) <= {turn["speaker"] for turn in turns} and len(set(spoken["series"])) == 2
    assert sorted(spoken["turn"]) == list(range(sorted(spoken["turn"])[0], sorted(spoken["turn"])[0] + len(spoken)))


def test_the_report_shows_a_drift_section_from_a_vector_file(
    tiny: str, tam: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = _held_under_flattery(tiny, tam, tmp_path / "logs", turns=2)
    vectors = Vectors(
        VectorProvenance(kind="trait", model="tiny", layers=[1], trait="terse", n_positive=1, n_negative=1),
        {1: torch.tensor(_direction(3), dtype=torch.float32)},
    )
    file = save_vectors(vectors, tmp_path / "terse.safetensors")
    page = build_study_report([log], watch=file)
    assert "Drift along terse.safetensors" in page and "Projection on terse.safetensors by turn, block 1" in page
    assert "Mean projection per condition" in page and "n = " in page
    code, _, err = run(capsys, "report", tmp_path / "logs", "--watch", file, "-o", tmp_path / "r.html")
    assert code == 0, err
    assert "Drift along terse.safetensors" in (tmp_path / "r.html").read_text(encoding="utf-8")
    code, _, err = run(capsys, "report", tmp_path / "logs", "--watch", tmp_path / "absent.safetensors")
    assert code == 1 and "absent.safetensors: no such file" in err
