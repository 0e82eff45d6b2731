"""The training pipeline, stage by stage, into a bundle that resumes wherever it was stopped.

prompts → pairs (teacher as the character, student as itself) → AI feedback (the judge keeps clear wins) → DPO
with LoRA → optional introspection (self-reflection and self-conversation, then SFT) → margins on held-out pairs
→ before/after evaluation → report. Each stage writes its output into the bundle as it goes; a stage whose output
is complete is skipped when the command runs again with the same settings.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from characterlab.analysis import bootstrap_mean, paired_permutation_test
from characterlab.characters import Character, load_corpus, save_character
from characterlab.dialogue import inspect_model
from characterlab.errors import CharacterlabError
from characterlab.models import load_model
from characterlab.report import write_training_report
from characterlab.scorers import load_embedding_model
from characterlab.training._bundle import BundleManifest, read_bundle, stage_done, write_manifest
from characterlab.training._dpo import DpoSettings, dpo_rows, train_dpo
from characterlab.training._evaluation import (
    Condition,
    EvaluationReply,
    evaluate,
    evaluation_prompts,
    summarize_evaluation,
)
from characterlab.training._feedback import judge_pairs
from characterlab.training._introspection import IntrospectionSettings, filter_samples, write_introspection
from characterlab.training._margins import preference_margins
from characterlab.training._pairs import generate_pairs
from characterlab.training._prompts import build_prompts
from characterlab.training._records import (
    IntrospectionSample,
    PairVerdict,
    PreferencePair,
    TrainingPrompt,
    read_records,
    write_records,
)
from characterlab.training._sft import sft_rows, train_sft
from characterlab.training._studies import run_studies

__all__ = ["LOCAL_PREFIX", "TrainingResult", "TrainingSettings", "train_character"]

LOCAL_PREFIX = "characterlab/"


class TrainingSettings(BaseModel):
    """Everything that decides what a training run makes (``config.json`` in the bundle)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    student: str
    """The model trained: a local model, ``characterlab/<default|base|folder>``."""
    teacher: str
    """Writes the character's replies (any Inspect model; the student itself works)."""
    judge: str
    """Judges the pairs (any Inspect model)."""
    generated_per_trait: Annotated[int, Field(ge=0)] = 8
    prompt_files: list[str] = []
    held_out: Annotated[float, Field(ge=0, lt=1)] = 0.2
    max_tokens: Annotated[int, Field(ge=8)] = 192
    temperature: Annotated[float, Field(ge=0)] = 0.7
    min_margin: Annotated[float, Field(ge=-1, le=1)] = 0.2
    rationale: bool = True
    dpo: DpoSettings = DpoSettings()
    introspection: IntrospectionSettings | None = None
    evaluate: bool = True
    evaluation_judge: bool = True
    """Also score the before/after replies with the judge (off: judge-free character contrast only)."""
    studies: bool = True
    """Also run the studies before and after (trait_expression, hold_character; persona_statements with data)."""
    persona_data: str | None = None
    """The persona folder of the model-written evaluations, for persona_statements."""
    behaviours: list[str] = []
    """The persona behaviours asked before and after."""
    holds_by: Literal["judge", "embedding", "auto"] = "auto"
    """How hold_character decides; ``auto``: the judge unless it is a local model (then embeddings)."""
    embedding_model: str | None = None
    seed: int = 0


@dataclass(frozen=True)
class TrainingResult:
    """What a finished run holds (all of it is in the bundle too)."""

    bundle: Path
    prompts: list[TrainingPrompt]
    pairs: list[PreferencePair]
    verdicts: list[PairVerdict]
    metrics: dict[str, Any]


def train_character(
    character: Character,
    out: Path,
    settings: TrainingSettings,
    *,
    corpus_root: Path | None = None,
    progress: bool = True,
    say: Callable[[str], None] = lambda message: None,
) -> TrainingResult:
    """Run (or resume) the whole pipeline into the bundle ``out``.

    Args:
        character: The character to train in.
        out: The bundle folder; created, or resumed when it holds a run with the same settings.
        settings: The run's settings.
        corpus_root: The folder the character's corpus paths are relative to (the character file's folder);
            ``None`` when the character has no corpus.
        progress: Show the trainers' progress bars.
        say: Called with a line for each stage as it starts or is skipped.

    Raises:
        CharacterlabError: a student that is not a local model; a bundle started with other settings; a stage
            that cannot run (no pair kept, no introspection sample kept).
    """
    if not settings.student.startswith(LOCAL_PREFIX):
        raise CharacterlabError(
            f"the student must be a local model (characterlab/default, characterlab/<folder>); got {settings.student!r}"
        )
    if not character.traits:
        raise CharacterlabError(f"{character.name} has no traits; training needs traits with probes to draw them out")
    manifest = _open_bundle(out, character, settings)
    data = out / "data"

    student = inspect_model(settings.student)
    embedding = load_embedding_model(settings.embedding_model)

    prompts_file = data / "prompts.jsonl"
    prompts = read_records(prompts_file, TrainingPrompt)
    if prompts:
        say(f"prompts: {len(prompts)} already written")
    else:
        say("prompts: the traits' probes, and messages a model writes for each trait")
        prompts = asyncio.run(
            build_prompts(
                character,
                generator=inspect_model(settings.teacher) if settings.generated_per_trait else None,
                per_trait=settings.generated_per_trait,
                files=[Path(file) for file in settings.prompt_files],
                held_out=settings.held_out,
                embed=embedding.encode,
                seed=settings.seed,
            )
        )
        write_records(prompts_file, prompts)

    say(f"pairs: the teacher as {character.display_name}, the student as itself ({len(prompts)} prompts)")
    pairs = asyncio.run(
        generate_pairs(
            character,
            prompts,
            teacher=inspect_model(settings.teacher),
            student=student,
            path=data / "pairs.jsonl",
            max_tokens=settings.max_tokens,
            temperature=settings.temperature,
            seed=settings.seed,
        )
    )

    say(f"feedback: {settings.judge} judges each pair")
    corpus = load_corpus(character, corpus_root) if character.corpus and corpus_root is not None else None
    verdicts = asyncio.run(
        judge_pairs(
            character,
            pairs,
            judge=inspect_model(settings.judge),
            path=data / "verdicts.jsonl",
            min_margin=settings.min_margin,
            corpus=corpus,
            rationale=settings.rationale,
        )
    )
    # The threshold may have changed since the judge was asked: the file says what this run keeps.
    write_records(data / "verdicts.jsonl", verdicts)
    kept = {verdict.prompt_id for verdict in verdicts if verdict.kept}
    training_pairs = [pair for pair in pairs if pair.split == "train" and pair.prompt_id in kept]
    if not training_pairs and "dpo" not in manifest.stages:
        counts = Counter(_reason_group(verdict.reason) for verdict in verdicts)
        raise CharacterlabError(
            f"the judge kept none of the {len(pairs)} pairs ("
            + ", ".join(f"{reason}: {count}" for reason, count in counts.most_common())
            + f"); lower --min-margin (now {settings.min_margin}) or use a stronger --judge, then run the same "
            "command again: the pairs and the judge's verdicts are kept"
        )

    local_name = settings.student.removeprefix(LOCAL_PREFIX)
    if "dpo" not in manifest.stages:
        say(f"dpo: {len(training_pairs)} kept pairs, LoRA rank {settings.dpo.rank}")
        loaded = load_model(local_name)
        train_dpo(loaded, dpo_rows(loaded, training_pairs), out / "dpo", settings.dpo, progress=progress)
        manifest = stage_done(manifest.model_copy(update={"adapter": "dpo/adapter"}), "dpo")
        write_manifest(out, manifest)
        shutil.rmtree(out / "dpo" / "checkpoints", ignore_errors=True)
    else:
        say("dpo: done before")

    samples: list[IntrospectionSample] = []
    if settings.introspection is not None:
        if "introspection" not in manifest.stages:
            say("introspection: the trained student writes about itself and talks with itself")
            trained = inspect_model(settings.student, {"adapter": str(out / "dpo" / "adapter")})
            samples = asyncio.run(
                write_introspection(
                    character,
                    trained,
                    data / "introspection.jsonl",
                    settings.introspection,
                    embed=embedding.encode,
                    seed=settings.seed,
                )
            )
            loaded = load_model(local_name)
            train_sft(
                loaded,
                out / "dpo" / "adapter",
                sft_rows(loaded, samples),
                out / "introspection",
                settings.introspection,
                seed=settings.seed,
                progress=progress,
            )
            manifest = stage_done(manifest.model_copy(update={"adapter": "introspection/adapter"}), "introspection")
            write_manifest(out, manifest)
            shutil.rmtree(out / "introspection" / "checkpoints", ignore_errors=True)
        else:
            say("introspection: done before")
            samples = filter_samples(read_records(data / "introspection.jsonl", IntrospectionSample))

    say("margins: log p(chosen) − log p(rejected) on held-out pairs, before and after")
    margins = _margins(local_name, out, pairs)

    replies: list[EvaluationReply] = []
    if settings.evaluate:
        say("before/after: untrained, prompted and trained students on held-out prompts and unseen contexts")
        trained = inspect_model(settings.student, {"adapter": str(out)})
        conditions = [
            Condition("untrained", student, staged=False),
            Condition("prompted", student, staged=True),
            Condition("trained", trained, staged=False),
        ]
        replies = asyncio.run(
            evaluate(
                character,
                conditions,
                evaluation_prompts(pairs),
                pairs=pairs,
                embedding=embedding,
                path=out / "evaluation" / "replies.jsonl",
                judge=inspect_model(settings.judge) if settings.evaluation_judge else None,
                max_tokens=min(settings.max_tokens, 128),
                temperature=settings.temperature,
                seed=settings.seed,
            )
        )
    if settings.studies:
        say("studies: trait_expression and hold_character (and persona_statements) before and after")
        holds_by = settings.holds_by
        if holds_by == "auto":
            holds_by = "embedding" if settings.judge.startswith(LOCAL_PREFIX) else "judge"
        run_studies(
            out,
            student=settings.student,
            judge=settings.judge if settings.evaluation_judge else None,
            persona_data=Path(settings.persona_data) if settings.persona_data else None,
            behaviours=settings.behaviours,
            holds_by=holds_by,
            seed=settings.seed,
        )
    metrics = _metrics(prompts, pairs, verdicts, samples, margins, replies, out)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    write_training_report(out)
    write_manifest(out, stage_done(read_bundle(out), "report"))
    return TrainingResult(bundle=out, prompts=prompts, pairs=pairs, verdicts=verdicts, metrics=metrics)


_LATER_STAGES = frozenset(
    {"min_margin", "dpo", "introspection", "evaluate", "evaluation_judge", "studies", "persona_data", "behaviours",
     "holds_by"}
)  # fmt: skip
"""Settings that only decide what happens from DPO on: they may change while nothing has been trained."""


def _open_bundle(out: Path, character: Character, settings: TrainingSettings) -> BundleManifest:
    config = out / "config.json"
    wanted = settings.model_dump(mode="json")
    if config.is_file():
        before = json.loads(config.read_text(encoding="utf-8"))
        changed = sorted(key for key in set(before) | set(wanted) if before.get(key) != wanted.get(key))
        manifest = read_bundle(out)
        if changed and "dpo" not in manifest.stages and set(changed) <= _LATER_STAGES:
            config.write_text(json.dumps(wanted, indent=2) + "\n", encoding="utf-8")
            return manifest
        if changed:
            raise CharacterlabError(
                f"{out} holds a run with other settings ({', '.join(changed)} differ); resume it with the same "
                "settings, or write the new run to another -o folder"
            )
        return manifest
    if out.exists() and any(out.iterdir()):
        raise CharacterlabError(f"{out} exists and is not a training bundle; give -o a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    save_character(character, out / "character.character.yaml")
    config.write_text(json.dumps(wanted, indent=2) + "\n", encoding="utf-8")
    manifest = BundleManifest(
        character=character.display_name, base_model=settings.student, teacher=settings.teacher, judge=settings.judge
    )
    write_manifest(out, manifest)
    return read_bundle(out)


def _margins(local_name: str, out: Path, pairs: Sequence[PreferencePair]) -> dict[str, Any]:
    usable = [pair for pair in pairs if pair.chosen.strip() and pair.rejected.strip() and pair.chosen != pair.rejected]
    result: dict[str, Any] = {}
    before_model = load_model(local_name)
    after_model = load_model(local_name, adapter=out)
    for split in ("held_out", "train"):
        chosen = [pair for pair in usable if pair.split == split]
        if not chosen:
            continue
        rows = dpo_rows(before_model, chosen)
        before = preference_margins(before_model.model, before_model.tokenizer, rows)
        after = preference_margins(after_model.model, after_model.tokenizer, rows)
        test = paired_permutation_test(after, before)
        result[split] = {
            "n": len(rows),
            "before": _estimate(before),
            "after": _estimate(after),
            "rise": {
                "mean": test.mean_difference,
                "low": test.low,
                "high": test.high,
                "p": test.p_value,
                "test": test.test,
            },
            "pairs": [
                {"prompt_id": p.prompt_id, "before": b, "after": a}
                for p, b, a in zip(chosen, before, after, strict=True)
            ],
        }
    return result


def _estimate(values: Sequence[float]) -> dict[str, float]:
    estimate = bootstrap_mean(list(values))
    return {"mean": estimate.mean, "low": estimate.low, "high": estimate.high, "n": estimate.n}


def _metrics(
    prompts: Sequence[TrainingPrompt],
    pairs: Sequence[PreferencePair],
    verdicts: Sequence[PairVerdict],
    samples: Sequence[IntrospectionSample],
    margins: dict[str, Any],
    replies: Sequence[EvaluationReply],
    out: Path,
) -> dict[str, Any]:
    reasons = Counter(_reason_group(verdict.reason) for verdict in verdicts)
    summaries, comparisons = summarize_evaluation(replies) if replies else ([], [])
    curves = out / "dpo" / "trainer_state.json"
    history = json.loads(curves.read_text(encoding="utf-8")) if curves.is_file() else []
    logged = [entry for entry in history if "loss" in entry]
    return {
        "prompts": {
            "total": len(prompts),
            "by_source": dict(Counter(prompt.source for prompt in prompts)),
            "by_split": dict(Counter(prompt.split for prompt in prompts)),
        },
        "pairs": {"total": len(pairs), "kept": sum(v.kept for v in verdicts), "verdicts": dict(reasons)},
        "dpo": {
            "steps": logged[-1]["step"] if logged else 0,
            "first_loss": logged[0]["loss"] if logged else None,
            "last_loss": logged[-1]["loss"] if logged else None,
            "last_reward_margin": logged[-1].get("rewards/margins") if logged else None,
        },
        "introspection": {
            "samples": len(samples),
            "kept": sum(sample.kept for sample in samples),
            "reasons": dict(Counter(sample.reason for sample in samples)),
        },
        "margins": margins,
        "evaluation": {
            "summaries": [summary.__dict__ for summary in summaries],
            "comparisons": comparisons,
            # A judge that gives (nearly) every reply one score tells the conditions apart no better than a constant.
            "judge_mode": _mode([reply.judge for reply in replies if reply.judge is not None]),
        },
    }


def _mode(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    value, count = Counter(values).most_common(1)[0]
    return {"value": value, "share": count / len(values)}


def _reason_group(reason: str) -> str:
    # Verdict reasons carry their numbers ("kept: the chosen reply wins by +0.43"); counts group by the words.
    return reason.split(":")[0] if reason.startswith("kept") else reason.split(" (")[0].split(":")[0]
