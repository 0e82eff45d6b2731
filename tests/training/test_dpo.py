"""DPO with LoRA on a tiny model: rows in the student's frame, training that moves the margin, checkpoints that
resume, curves saved, and the adapter loaded back through a bundle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from characterlab.errors import CharacterlabError, ModelLoadError
from characterlab.models import LoadedModel, build_tiny_model, load_model
from characterlab.training import (
    DpoSettings,
    PreferencePair,
    dpo_rows,
    preference_margins,
    student_prompt,
    train_dpo,
)
from characterlab.training._bundle import BUNDLE_FILE, BundleManifest, write_manifest

FAST = DpoSettings(
    learning_rate=1e-2, epochs=2, rank=4, lora_alpha=8, batch_size=4, save_steps=1, gradient_checkpointing=False
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-dpo"))


def _pairs(n: int) -> list[PreferencePair]:
    return [
        PreferencePair(
            prompt_id=f"p{i}",
            prompt=f"Question number {i}?",
            chosen="Ahoy! What a lovely day!",
            rejected="I am a language model.",
            teacher="t",
            student="s",
        )
        for i in range(n)
    ]


def _train(tiny: Path, out: Path, settings: DpoSettings = FAST) -> tuple[LoadedModel, list[dict[str, str]]]:
    loaded = load_model(str(tiny))
    rows = dpo_rows(loaded, _pairs(8))
    return loaded, rows


def test_rows_are_the_students_own_prompt_frame_with_one_bos(tiny: Path) -> None:
    loaded = load_model(str(tiny))
    prompt = student_prompt(loaded, "Hello?")
    bos = loaded.tokenizer.bos_token
    # The tiny tokenizer adds BOS itself, so the text leaves it out; tokenized, the prompt starts with exactly one.
    assert not prompt.startswith(bos) and "Hello?" in prompt
    ids = loaded.tokenizer(prompt)["input_ids"]
    assert ids[0] == loaded.tokenizer.bos_token_id and ids[1] != loaded.tokenizer.bos_token_id
    # ... and equal to the ids the chat template gives the provider at inference.
    template = loaded.tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hello?"}], add_generation_prompt=True, tokenize=True, return_dict=True
    )
    assert ids == list(template["input_ids"])
    [row] = dpo_rows(loaded, _pairs(1))
    assert row == {"prompt": student_prompt(loaded, "Question number 0?"), "chosen": _pairs(1)[0].chosen,
                   "rejected": _pairs(1)[0].rejected}  # fmt: skip


def test_training_raises_the_margin_and_saves_curves_and_adapter(tiny: Path, tmp_path: Path) -> None:
    loaded = load_model(str(tiny))
    rows = dpo_rows(loaded, _pairs(8))
    before = preference_margins(loaded.model, loaded.tokenizer, rows)
    result = train_dpo(loaded, rows, tmp_path / "dpo", FAST, progress=False)
    assert result.steps == 4 and result.resumed_from is None
    trained = load_model(str(tiny), adapter=result.adapter)
    after = preference_margins(trained.model, trained.tokenizer, rows)
    assert sum(after) / len(after) > sum(before) / len(before) + 5.0
    lines = result.curves.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("step,epoch,loss,rewards/margins") and len(lines) == 1 + 4
    assert result.figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The base model was not changed: the untrained margins come back with the adapter switched off.
    with trained.model.disable_adapter():  # type: ignore[union-attr]
        assert preference_margins(trained.model, trained.tokenizer, rows) == pytest.approx(before, abs=1e-3)


def test_a_stopped_run_resumes_from_its_last_checkpoint(tiny: Path, tmp_path: Path) -> None:
    loaded = load_model(str(tiny))
    rows = dpo_rows(loaded, _pairs(8))
    first = train_dpo(loaded, rows, tmp_path / "dpo", FAST.model_copy(update={"epochs": 1}), progress=False)
    assert first.steps == 2
    # Asked for two epochs now, the run goes on from step 2 instead of starting over.
    second = train_dpo(load_model(str(tiny)), rows, tmp_path / "dpo", FAST, progress=False)
    assert second.resumed_from is not None and second.resumed_from.endswith("checkpoint-2")
    assert second.steps == 4
    state = json.loads((tmp_path / "dpo" / "trainer_state.json").read_text(encoding="utf-8"))
    assert [entry["step"] for entry in state if "loss" in entry] == [1, 2, 3, 4]


def test_bad_inputs_are_clear_errors(tiny: Path, tmp_path: Path) -> None:
    loaded = load_model(str(tiny))
    with pytest.raises(CharacterlabError, match="at least one preference pair"):
        train_dpo(loaded, [], tmp_path / "dpo", FAST)
    result = train_dpo(loaded, dpo_rows(loaded, _pairs(4)), tmp_path / "dpo", FAST.model_copy(update={"epochs": 1}))
    adapted = load_model(str(tiny), adapter=result.adapter)
    with pytest.raises(CharacterlabError, match="already carries an adapter"):
        train_dpo(adapted, dpo_rows(adapted, _pairs(4)), tmp_path / "again", FAST)
    # The student DPO trained in place holds the LoRA layers now: training it again is refused too.
    with pytest.raises(CharacterlabError, match="trained in place"):
        train_dpo(loaded, dpo_rows(loaded, _pairs(4)), tmp_path / "again", FAST)


def test_a_bundle_loads_as_an_adapter_through_its_manifest(tiny: Path, tmp_path: Path) -> None:
    loaded = load_model(str(tiny))
    rows = dpo_rows(loaded, _pairs(4))
    bundle = tmp_path / "bundle"
    result = train_dpo(loaded, rows, bundle / "dpo", FAST.model_copy(update={"epochs": 1}), progress=False)
    write_manifest(
        bundle,
        BundleManifest(character="Pip", base_model="characterlab/x", teacher="t", judge="j", adapter="dpo/adapter"),
    )
    manifest = json.loads((bundle / BUNDLE_FILE).read_text(encoding="utf-8"))
    assert manifest["schema"] == "characterlab/bundle@1" and manifest["versions"]["trl"] == "1.16.0"
    through_bundle = load_model(str(tiny), adapter=bundle)
    direct = load_model(str(tiny), adapter=result.adapter)
    assert preference_margins(through_bundle.model, through_bundle.tokenizer, rows) == pytest.approx(
        preference_margins(direct.model, direct.tokenizer, rows)
    )
    write_manifest(
        bundle, BundleManifest(character="Pip", base_model="characterlab/x", teacher="t", judge="j", adapter="missing")
    )
    with pytest.raises(ModelLoadError, match="has not finished"):
        load_model(str(tiny), adapter=bundle)
