"""A real run on the default model: training must raise the preference margin on pairs it never saw.

This is the test that fails if training did nothing: the student's log-probability margin of the character's
reply over its own default reply, on held-out pairs, must rise clearly (its 95% interval above zero).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from characterlab.characters import load_character
from characterlab.training import DpoSettings, TrainingSettings, train_character

CHEERFUL = Path(__file__).resolve().parents[2] / "examples" / "characters" / "cheerful.character.yaml"


@pytest.mark.slow
def test_training_the_cheerful_character_raises_the_held_out_margin(default_model_cache: Path, tmp_path: Path) -> None:
    settings = TrainingSettings(
        student="characterlab/default",
        teacher="characterlab/default",
        judge="characterlab/default",
        generated_per_trait=0,  # the character's 13 probes are enough for the test, and the CI minutes are few
        held_out=0.3,
        max_tokens=32,
        min_margin=-1.0,  # the 135M judge is near chance: keep every pair (its verdicts are still recorded)
        rationale=False,
        dpo=DpoSettings(
            learning_rate=5e-4,
            epochs=2,
            rank=8,
            lora_alpha=16,
            batch_size=4,
            max_length=256,
            gradient_checkpointing=False,
        ),
        evaluate=False,
        studies=False,
    )
    result = train_character(load_character(CHEERFUL), tmp_path / "cheerful", settings, progress=False)
    held = result.metrics["margins"]["held_out"]
    assert held["n"] >= 3
    # Nats of log-probability over a whole reply: a clear rise, not noise around zero.
    assert held["rise"]["mean"] > 2.0 and held["rise"]["low"] > 0.0, held
    assert result.metrics["dpo"]["last_loss"] < result.metrics["dpo"]["first_loss"]
    assert (tmp_path / "cheerful" / "report.html").is_file()
