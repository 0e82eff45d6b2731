"""The whole pipeline on a tiny model: every stage into a bundle, resumed without redoing work, with its report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from characterlab.characters import Character, load_character
from characterlab.errors import CharacterlabError
from characterlab.models import build_tiny_model, load_model
from characterlab.report import build_training_report
from characterlab.training import (
    DpoSettings,
    IntrospectionSettings,
    PairVerdict,
    PreferencePair,
    TrainingSettings,
    read_records,
    train_character,
)
from characterlab.training._records import write_records
from tests.training._mock import PIP

pytestmark = pytest.mark.slow  # a minute or two: every stage runs, with the embedding model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    # A long context: the staged character and the judge's questions outgrow the usual tiny 512 tokens.
    return f"characterlab/{build_tiny_model(tmp_path_factory.mktemp('tiny-train'), context=4096)}"


def _settings(tiny: str, **changes: object) -> TrainingSettings:
    settings = TrainingSettings(
        student=tiny,
        teacher=tiny,
        judge=tiny,
        generated_per_trait=1,
        held_out=0.3,
        max_tokens=12,
        min_margin=-1.0,  # a random judge would keep almost nothing; the test is the plumbing
        dpo=DpoSettings(learning_rate=1e-2, epochs=1, rank=4, lora_alpha=8, batch_size=4, gradient_checkpointing=False),
        introspection=IntrospectionSettings(reflections_per_prompt=1, conversations=1, turns=2, max_tokens=80),
        studies=False,
        seed=3,
    )
    return settings.model_copy(update=changes)


def test_every_stage_runs_into_a_bundle_that_resumes_and_loads(tiny: str, tmp_path: Path) -> None:
    bundle = tmp_path / "pip"
    said: list[str] = []
    result = train_character(PIP, bundle, _settings(tiny, studies=True), progress=False, say=said.append)
    for name in ("bundle.json", "config.json", "metrics.json", "report.html", "character.character.yaml"):
        assert (bundle / name).is_file(), name
    for name in ("prompts", "pairs", "verdicts", "introspection"):
        assert (bundle / "data" / f"{name}.jsonl").is_file(), name
    assert not (bundle / "dpo" / "checkpoints").exists()  # removed once the stage is done
    manifest = json.loads((bundle / "bundle.json").read_text(encoding="utf-8"))
    assert manifest["adapter"] == "introspection/adapter"
    assert set(manifest["stages"]) == {"dpo", "introspection", "report"}
    assert load_character(bundle / "character.character.yaml") == PIP

    metrics = result.metrics
    assert metrics["prompts"]["total"] == len(result.prompts) == 8  # 6 probes + 1 generated per trait
    assert metrics["pairs"]["total"] == len(result.pairs) == 8
    assert metrics["pairs"]["kept"] == sum(v.kept for v in result.verdicts)
    assert metrics["dpo"]["steps"] >= 1
    held = metrics["margins"]["held_out"]
    usable = [p for p in result.pairs if p.split == "held_out" and p.chosen and p.rejected and p.chosen != p.rejected]
    assert held["n"] == len(usable) > 0 and "rise" in held
    assert metrics["introspection"]["samples"] == 10 + 1
    conditions = {s["condition"] for s in metrics["evaluation"]["summaries"]}
    assert conditions == {"untrained", "prompted", "trained"}
    sets = {c["set"] for c in metrics["evaluation"]["comparisons"]}
    assert sets == {"like training", "unseen contexts"}
    assert all(c["test"] and c["n"] > 0 for c in metrics["evaluation"]["comparisons"])
    assert any("introspection" in line for line in said)
    # The studies ran on the untrained and the trained student, into a study report the training report links.
    runs = bundle / "evaluation" / "runs"
    assert sorted(path.name for path in runs.iterdir()) == ["trained", "untrained"]
    assert (bundle / "evaluation" / "studies.html").is_file()
    assert 'href="evaluation/studies.html"' in (bundle / "report.html").read_text(encoding="utf-8")

    # The bundle is the adapter: the local provider's loader finds it through bundle.json.
    trained = load_model(tiny.removeprefix("characterlab/"), adapter=bundle)
    assert trained.adapter == str(bundle)

    # Run again with the same settings: nothing is generated or trained again.
    sizes = {path: path.stat().st_size for path in (bundle / "data").iterdir()}
    replies = (bundle / "evaluation" / "replies.jsonl").stat().st_size
    again: list[str] = []
    train_character(PIP, bundle, _settings(tiny, studies=True), progress=False, say=again.append)
    assert "dpo: done before" in again and "introspection: done before" in again
    assert {path: path.stat().st_size for path in (bundle / "data").iterdir()} == sizes
    assert (bundle / "evaluation" / "replies.jsonl").stat().st_size == replies

    # Other settings are refused instead of mixing two runs in one bundle.
    with pytest.raises(CharacterlabError, match=r"other settings.*min_margin"):
        train_character(PIP, bundle, _settings(tiny, studies=True, min_margin=0.5), progress=False)


def test_a_run_killed_during_the_pairs_resumes_them(tiny: str, tmp_path: Path) -> None:
    bundle = tmp_path / "pip"
    settings = _settings(tiny, introspection=None, evaluate=False)
    first = train_character(PIP, bundle, settings, progress=False)
    pairs_file = bundle / "data" / "pairs.jsonl"
    kept = read_records(pairs_file, PreferencePair)[:3]
    # A kill during the pairs: three of them written, the fourth cut short, nothing after.
    write_records(pairs_file, kept)
    pairs_file.write_text(pairs_file.read_text(encoding="utf-8") + '{"prompt_id": "cut', encoding="utf-8")
    for later in ("verdicts.jsonl",):
        (bundle / "data" / later).unlink()
    (bundle / "bundle.json").write_text(
        (bundle / "bundle.json").read_text(encoding="utf-8").replace('"dpo"', '"dpo-not-done"'), encoding="utf-8"
    )
    second = train_character(PIP, bundle, settings, progress=False)
    assert [p.prompt_id for p in second.pairs] == [p.prompt_id for p in first.pairs]
    by_id = {pair.prompt_id: pair for pair in second.pairs}
    assert all(by_id[pair.prompt_id] == pair for pair in kept)  # pairs written before the kill were kept as they were


def test_bad_setups_are_clear_errors(tiny: str, tmp_path: Path) -> None:
    with pytest.raises(CharacterlabError, match="must be a local model"):
        train_character(PIP, tmp_path / "b", _settings(tiny, student="openai/gpt-4o"))
    with pytest.raises(CharacterlabError, match="has no traits"):
        train_character(Character(name="Blank"), tmp_path / "b", _settings(tiny))
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(CharacterlabError, match="not a training bundle"):
        train_character(PIP, tmp_path / "busy", _settings(tiny))


def test_the_report_escapes_model_text(tiny: str, tmp_path: Path) -> None:
    bundle = tmp_path / "pip"
    train_character(PIP, bundle, _settings(tiny, introspection=None), progress=False)
    pairs_file = bundle / "data" / "pairs.jsonl"
    hostile = '<script>window.__x=1</script><img src=x onerror="window.__x=2">'
    pairs = [
        p.model_copy(update={"chosen": hostile, "prompt": hostile}) for p in read_records(pairs_file, PreferencePair)
    ]
    write_records(pairs_file, pairs)
    page = build_training_report(bundle)
    assert "<script>window" not in page and "<img src=x" not in page
    assert "&lt;script&gt;window.__x=1&lt;/script&gt;" in page
    assert page.count("data:image/png;base64,") == 2  # the before/after figure and the DPO curves
    for heading in ("Before and after", "Preference margins", "Prompts and pairs", "DPO", "Settings"):
        assert heading in page
    # A judge that scores (nearly) every reply alike is flagged, not read as a finding.
    metrics_file = bundle / "metrics.json"
    metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
    metrics["evaluation"]["judge_mode"] = {"value": 100.0, "share": 0.95}
    metrics_file.write_text(json.dumps(metrics), encoding="utf-8")
    assert "The judge gave 95% of the replies the same score (100)" in build_training_report(bundle)


def test_a_judge_that_keeps_nothing_stops_the_run_and_a_lower_margin_resumes_it(tiny: str, tmp_path: Path) -> None:
    bundle = tmp_path / "pip"
    strict = _settings(tiny, min_margin=1.0, introspection=None, evaluate=False)  # no softmax gives exactly 1
    with pytest.raises(CharacterlabError, match=r"the judge kept none of the 8 pairs \(.*\); lower --min-margin"):
        train_character(PIP, bundle, strict, progress=False)
    verdicts = read_records(bundle / "data" / "verdicts.jsonl", PairVerdict)
    pairs = (bundle / "data" / "pairs.jsonl").read_text(encoding="utf-8")
    # Nothing was trained yet, so the threshold may change; the judge is not asked again.
    result = train_character(PIP, bundle, strict.model_copy(update={"min_margin": -1.0}), progress=False)
    assert (bundle / "data" / "pairs.jsonl").read_text(encoding="utf-8") == pairs
    by_id = {v.prompt_id: v for v in result.verdicts}
    assert all(by_id[v.prompt_id].p_chosen == v.p_chosen for v in verdicts)
    assert all(v.kept for v in result.verdicts if v.margin is not None)
    assert json.loads((bundle / "config.json").read_text(encoding="utf-8"))["min_margin"] == -1.0
