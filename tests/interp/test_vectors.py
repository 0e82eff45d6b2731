"""Vector files, extraction on a tiny real model, and steering along an extracted direction."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from characterlab.characters import load_character
from characterlab.errors import CharacterlabError
from characterlab.interp import (
    VectorProvenance,
    Vectors,
    character_axis,
    projections,
    read_vectors,
    save_vectors,
    trait_vectors,
)
from characterlab.models import (
    ActivationSpec,
    GenerationRequest,
    LocalEngine,
    build_tiny_model,
    load_model,
    read_steering_file,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "characters"


@pytest.fixture(scope="module")
def engine(tiny_llama: Path) -> LocalEngine:
    return LocalEngine(load_model(str(tiny_llama)))


def _vectors(layers: tuple[int, ...] = (0, 2)) -> Vectors:
    provenance = VectorProvenance(
        kind="trait", model="tiny", layers=list(layers), trait="t", n_positive=3, n_negative=3
    )
    return Vectors(provenance, {layer: torch.arange(64, dtype=torch.float32) + layer for layer in layers})


def test_a_vector_file_round_trips_and_steers_as_a_steering_file(tmp_path: Path) -> None:
    written = save_vectors(_vectors(), tmp_path / "out" / "t.safetensors")
    again = read_vectors(written)
    assert again.provenance == _vectors().provenance
    assert all(torch.equal(again.by_layer[layer], _vectors().by_layer[layer]) for layer in (0, 2))
    as_steering = read_steering_file(written, alpha=2.0)  # the same file, read as a plain steering file
    assert [vector.layer for vector in as_steering] == [0, 2]
    [steer] = again.steering(3.0, layers=[2], unit=True)
    assert steer.alpha == 3.0 and float(steer.vector.norm()) == pytest.approx(1.0)
    [raw] = again.steering(1.0, layers=[0])
    assert torch.equal(raw.vector, again.by_layer[0])  # as found, as a steering file is read
    with pytest.raises(CharacterlabError, match=r"no vector for layer\(s\) \[5\]"):
        again.steering(1.0, layers=[5])


def test_bad_vector_files_are_named_with_their_problem(tmp_path: Path) -> None:
    plain = tmp_path / "plain.safetensors"
    save_file({"layer.0": torch.ones(64)}, str(plain))
    with pytest.raises(CharacterlabError, match="no characterlab provenance"):
        read_vectors(plain)
    wrong = tmp_path / "wrong.safetensors"
    bad = _vectors().provenance.model_dump(by_alias=True) | {"n_positive": 0}
    save_file(
        {"layer.0": torch.ones(64), "layer.2": torch.ones(64)}, str(wrong), metadata={"characterlab": json.dumps(bad)}
    )
    with pytest.raises(CharacterlabError, match=r"wrong.safetensors: provenance: n_positive"):
        read_vectors(wrong)
    mismatched = tmp_path / "mismatched.safetensors"
    meta = {"characterlab": _vectors((0, 1)).provenance.model_dump_json(by_alias=True)}
    save_file({"layer.0": torch.ones(64)}, str(mismatched), metadata=meta)
    with pytest.raises(CharacterlabError, match=r"provenance.layers is \[0, 1\] but the file holds \[0\]"):
        read_vectors(mismatched)


def test_trait_vectors_on_a_tiny_model_with_and_without_a_judge(engine: LocalEngine) -> None:
    marit = load_character(EXAMPLES / "marit.character.yaml")
    trait = marit.traits[0]
    vectors, responses = trait_vectors(engine, marit, trait.id, layers=[1, -1], max_new_tokens=6)
    asked = len(dict.fromkeys(trait.probes))
    assert vectors.provenance.layers == [1, 2]  # -1 named as the block it is
    assert (vectors.provenance.n_positive, vectors.provenance.n_negative) == (asked, asked)
    assert vectors.provenance.judge is None and vectors.by_layer[2].shape == (64,)
    assert {r.side for r in responses} == {"positive", "negative"} and len(responses) == 2 * asked
    # A judge keeps clear cases only: here every positive scores 80 and negatives alternate 10 / 60 (unclear).
    scores = iter([80.0] * asked + [10.0, 60.0] * asked)
    judged, scored = trait_vectors(
        engine,
        marit,
        trait.id,
        layers=[1],
        max_new_tokens=6,
        judge=lambda pairs: [next(scores) for _ in pairs],
        judge_name="rule",
    )
    assert judged.provenance.n_positive == asked and judged.provenance.n_negative == (asked + 1) // 2
    assert judged.provenance.judge == "rule" and judged.provenance.threshold == 50.0
    assert [r.score for r in scored][:2] == [80.0, 80.0]
    with pytest.raises(CharacterlabError, match=r"kept 0 positive .* \(0 of \d+ replies got no usable score\)"):
        trait_vectors(engine, marit, trait.id, layers=[1], max_new_tokens=4, judge=lambda pairs: [0.0] * len(pairs))
    with pytest.raises(CharacterlabError, match="the model has blocks 0 to 2"):
        trait_vectors(engine, marit, trait.id, layers=[7], max_new_tokens=4)


def test_a_base_model_is_refused_with_a_reason(tmp_path: Path) -> None:
    base = LocalEngine(load_model(str(build_tiny_model(tmp_path / "base", architecture="gpt2"))))
    marit = load_character(EXAMPLES / "marit.character.yaml")
    with pytest.raises(CharacterlabError, match="no chat template"):
        trait_vectors(base, marit, marit.traits[0].id, layers=[0])
    with pytest.raises(CharacterlabError, match="no chat template"):
        character_axis(base, marit, ["Hello?"], layers=[0])


def test_the_character_axis_separates_staged_from_default_replies(engine: LocalEngine) -> None:
    marit = load_character(EXAMPLES / "marit.character.yaml")
    questions = ["What do you do all day?", "Tell me about the sea.", "What is your favourite star?"]
    axis, responses = character_axis(engine, marit, questions, layers=[2], max_new_tokens=6)
    assert axis.provenance.kind == "character_axis" and axis.provenance.character == marit.name
    along = projections([r.states for r in responses], axis.by_layer)
    staged = [p[2] for p, r in zip(along, responses, strict=True) if r.side == "positive"]
    default = [p[2] for p, r in zip(along, responses, strict=True) if r.side == "negative"]
    # By construction the staged replies lie further along the axis on average than the default ones.
    assert sum(staged) / len(staged) > sum(default) / len(default)


def test_steering_along_a_direction_moves_its_projection_monotonically(engine: LocalEngine) -> None:
    # A planted feature: the projection of the last block's states on a direction added at the first block.
    direction = torch.randn(64, generator=torch.Generator().manual_seed(7))
    vectors = Vectors(
        VectorProvenance(kind="trait", model="tiny", layers=[0], trait="planted", n_positive=1, n_negative=1),
        {0: direction},
    )
    prompt = tuple(engine.chat_prompt_ids([{"role": "user", "content": "Tell me a story."}]))
    spec = ActivationSpec(layers=(2,), reduction="mean_response")
    request = GenerationRequest(prompt_ids=prompt, max_new_tokens=6, activations=spec)
    along = []
    for alpha in (-8.0, -4.0, 0.0, 4.0, 8.0):
        [result] = engine.generate([dataclasses.replace(request, steering=tuple(vectors.steering(alpha)))])
        along.append(projections([result.activations], {2: direction})[0][2])
    assert along == sorted(along) and along[0] < along[-1]
