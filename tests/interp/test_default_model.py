"""A real run on the default model: a bundled character's trait direction, and the steering curve along it."""

from __future__ import annotations

from pathlib import Path

import pytest

from characterlab.characters import load_character
from characterlab.interp import read_vectors, save_vectors, steering_sweep, sweep_page, trait_vectors
from characterlab.models import LocalEngine, load_model

MARIT = Path(__file__).resolve().parents[2] / "examples" / "characters" / "marit.character.yaml"


@pytest.mark.slow
def test_a_trait_direction_of_marit_on_the_default_model_and_its_steering_curve(
    default_model_cache: Path, tmp_path: Path
) -> None:
    engine = LocalEngine(load_model("default"))
    marit = load_character(MARIT)
    middle = engine.loaded.num_layers // 2
    vectors, responses = trait_vectors(engine, marit, "sentimentality", layers=[middle], max_new_tokens=24)
    assert vectors.provenance.layers == [middle] and len(responses) == 2 * len(marit.trait("sentimentality").probes)
    assert vectors.by_layer[middle].shape == (engine.loaded.hidden_size,)
    assert float(vectors.by_layer[middle].norm()) > 0
    again = read_vectors(save_vectors(vectors, tmp_path / "sentimentality.safetensors"))
    points = steering_sweep(
        engine,
        again,
        questions=["Do you ever miss the lighthouse?", "What was your husband like?"],
        score=lambda question, reply: float(len(reply.split())),
        coefficients=(0.0, 8.0),
        max_new_tokens=24,
    )
    plain, pushed = points
    # Pushed far along the direction, the model reads ordinary text worse: the curve shows what steering costs.
    assert pushed.neutral_logprob < plain.neutral_logprob
    assert plain.accuracy.n == 20 and "<svg" in sweep_page(points, again, scorer="words")
