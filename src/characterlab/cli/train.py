"""``characterlab train``: constitutional character training into a bundle, resumable, measured before and after."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from characterlab.cli._console import console
from characterlab.errors import CharacterlabError

if TYPE_CHECKING:
    from characterlab.characters import Character

__all__ = ["load_training_character", "train"]

_CONSTITUTION_SUFFIXES = (".txt", ".jsonl")


def load_training_character(path: Path) -> Character:
    """Load a character file, a card, or an OpenCharacterTraining constitution (a JSON array, ``.txt`` or
    ``.jsonl``)."""
    from characterlab.characters import read_constitution
    from characterlab.cli.character import load_any

    suffix = path.suffix.lower()
    if suffix in _CONSTITUTION_SUFFIXES or (suffix == ".json" and _is_json_array(path)):
        return read_constitution(path)
    return load_any(path)


def train(
    character_file: Annotated[
        Path, typer.Argument(help="A character file, a card, or an OpenCharacterTraining constitution.")
    ],
    student: Annotated[
        str, typer.Option(help="The model to train: a local model, characterlab/<default|base|folder>.")
    ] = "characterlab/default",
    teacher: Annotated[
        str | None, typer.Option(help="Writes the character's replies (any Inspect model; default: the student).")
    ] = None,
    judge: Annotated[str | None, typer.Option(help="Judges each pair (default: the teacher).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="The bundle (default: out/bundles/NAME).")] = None,
    prompts: Annotated[
        list[Path] | None,
        typer.Option("--prompts", help="User messages to add (.txt, .jsonl); repeatable."),
    ] = None,
    generated_per_trait: Annotated[int, typer.Option(help="User messages a model writes per trait.", min=0)] = 8,
    held_out: Annotated[float, typer.Option(help="Fraction of prompts kept out of training, to measure it.")] = 0.2,
    max_tokens: Annotated[int, typer.Option(help="Longest reply of teacher and student.", min=8)] = 192,
    temperature: Annotated[float, typer.Option(help="Sampling temperature of the replies.", min=0)] = 0.7,
    min_margin: Annotated[
        float, typer.Option(help="How much the chosen reply must win by in the judge's eyes, P(chosen) − P(rejected).")
    ] = 0.2,
    rationale: Annotated[bool, typer.Option(help="Ask the judge to say why, for every pair.")] = True,
    beta: Annotated[float, typer.Option(help="DPO's beta.")] = 0.1,
    learning_rate: Annotated[float, typer.Option(help="Learning rate of DPO.")] = 5e-5,
    epochs: Annotated[float, typer.Option(help="Epochs of DPO.")] = 1.0,
    rank: Annotated[int, typer.Option(help="LoRA rank.", min=1)] = 16,
    lora_alpha: Annotated[int, typer.Option(help="LoRA alpha.", min=1)] = 32,
    batch_size: Annotated[int, typer.Option(help="Pairs per device per step.", min=1)] = 4,
    gradient_accumulation: Annotated[int, typer.Option(help="Steps accumulated per update.", min=1)] = 1,
    max_length: Annotated[int, typer.Option(help="Longest prompt + reply in tokens.", min=16)] = 1024,
    gradient_checkpointing: Annotated[
        bool, typer.Option(help="Recompute activations in the backward pass: less memory, slower steps.")
    ] = True,
    target_modules: Annotated[
        str, typer.Option(help="Modules LoRA adapts: all-linear, or names such as q_proj,v_proj.")
    ] = "all-linear",
    introspection: Annotated[
        bool, typer.Option(help="Add the introspection stage: self-reflection and self-conversation, then SFT.")
    ] = False,
    reflections: Annotated[int, typer.Option(help="Introspection: samples per self-reflection prompt.", min=0)] = 2,
    conversations: Annotated[int, typer.Option(help="Introspection: conversations with itself.", min=0)] = 3,
    evaluate: Annotated[bool, typer.Option(help="Measure before and after (untrained, prompted, trained).")] = True,
    evaluation_judge: Annotated[
        bool, typer.Option(help="Also score the before/after replies with the judge (else judge-free only).")
    ] = True,
    studies: Annotated[
        bool, typer.Option(help="Also run trait_expression and hold_character (and persona_statements) before/after.")
    ] = True,
    persona_data: Annotated[
        Path | None, typer.Option(help="The persona/ folder of the model-written evaluations, for persona_statements.")
    ] = None,
    behaviours: Annotated[
        str | None, typer.Option(help="Persona behaviours to ask before and after (comma-separated).")
    ] = None,
    holds_by: Annotated[
        str, typer.Option(help="hold_character's verdicts: judge, embedding, or auto (embedding for a local judge).")
    ] = "auto",
    seed: Annotated[int, typer.Option(help="Seed of every generation, split and training run.")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
) -> None:
    """Train a character into a model: prompts → pairs → AI feedback → DPO (LoRA) → [introspection] → bundle.

    Run the same command again to resume a stopped run; everything computed is kept.
    """
    from characterlab.training import DpoSettings, IntrospectionSettings, TrainingSettings, train_character

    if holds_by not in ("judge", "embedding", "auto"):
        raise CharacterlabError(f"--holds-by must be judge, embedding or auto; got {holds_by!r}")
    character = load_training_character(character_file)
    teacher = teacher or student
    modules: list[str] | str = "all-linear" if target_modules == "all-linear" else target_modules.split(",")
    settings = TrainingSettings(
        student=student,
        teacher=teacher,
        judge=judge or teacher,
        generated_per_trait=generated_per_trait,
        prompt_files=[str(path) for path in prompts or []],
        held_out=held_out,
        max_tokens=max_tokens,
        temperature=temperature,
        min_margin=min_margin,
        rationale=rationale,
        dpo=DpoSettings(
            beta=beta,
            learning_rate=learning_rate,
            epochs=epochs,
            rank=rank,
            lora_alpha=lora_alpha,
            batch_size=batch_size,
            gradient_accumulation_steps=gradient_accumulation,
            max_length=max_length,
            target_modules=modules,
            gradient_checkpointing=gradient_checkpointing,
            seed=seed,
        ),
        introspection=IntrospectionSettings(reflections_per_prompt=reflections, conversations=conversations)
        if introspection
        else None,
        evaluate=evaluate,
        evaluation_judge=evaluation_judge,
        studies=studies,
        persona_data=str(persona_data) if persona_data else None,
        behaviours=[b.strip() for b in (behaviours or "").split(",") if b.strip()],
        holds_by=holds_by,
        seed=seed,
    )
    bundle = out or Path("out/bundles") / _slug(character.name)
    result = train_character(
        character,
        bundle,
        settings,
        corpus_root=character_file.parent,
        progress=not quiet,
        say=lambda line: console.print(f"• {escape(line)}", soft_wrap=True),
    )
    held = result.metrics["margins"].get("held_out")
    if held:
        rise = held["rise"]
        console.print(
            f"held-out pairs: margin {held['before']['mean']:+.2f} → {held['after']['mean']:+.2f} nats "
            f"(rise {rise['mean']:+.2f}, 95% CI [{rise['low']:.2f}, {rise['high']:.2f}], n = {held['n']})"
        )
    console.print(f"[bold]bundle[/]: {escape(str(bundle.resolve()))}", soft_wrap=True)
    console.print(f"open [bold]{escape(str((bundle / 'report.html').resolve()))}[/] in a browser", soft_wrap=True)


def _is_json_array(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            start = handle.read(256).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError as error:
        raise CharacterlabError(f"cannot read {path}: {error}") from error
    return start.startswith(b"[")


def _slug(name: str) -> str:
    import re

    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "character"
