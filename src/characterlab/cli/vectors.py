"""``characterlab vectors``: find a trait's direction or a character's axis in a local model, and show a file."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from characterlab.cli._console import console
from characterlab.cli._local_model import local_engine
from characterlab.cli.character import load_any
from characterlab.errors import CharacterlabError

# torch, transformers and characterlab.interp are imported inside the commands (seconds at start-up otherwise).

if TYPE_CHECKING:
    from characterlab.characters import Character, Trait

__all__ = ["vectors_app"]

vectors_app = typer.Typer(
    help="Trait and character directions in a local model's activations (files that also steer).",
    no_args_is_help=True,
)

Layers = Annotated[str, typer.Option(help="Decoder blocks, comma-separated (negative counts from the last).")]
Model = Annotated[str, typer.Option(help="A local model: default, base, a model folder (characterlab/ optional).")]


@vectors_app.command("trait")
def trait_command(
    character: Annotated[Path, typer.Argument(help="A character file or card.")],
    trait: Annotated[str, typer.Option(help="The trait's id.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The vector file to write (.safetensors).")],
    model: Model = "default",
    layers: Layers = "-1",
    question: Annotated[
        list[str] | None, typer.Option("--question", help="A question to ask besides the trait's probes (repeatable).")
    ] = None,
    max_tokens: Annotated[int, typer.Option(help="Length of each reply.", min=1)] = 64,
    judge: Annotated[
        str | None,
        typer.Option(help="A judge model (any Inspect model) that keeps only clear positives and negatives."),
    ] = None,
    threshold: Annotated[
        float, typer.Option(help="The judge score a positive must reach (a negative: at most 100 minus it).")
    ] = 50.0,
) -> None:
    """Extract a trait's direction: replies showing it minus replies showing its opposite."""
    from characterlab.interp import save_vectors, trait_vectors

    staged = load_any(character)
    vectors, responses = trait_vectors(
        local_engine(model),
        staged,
        trait,
        layers=_layers(layers),
        questions=question or (),
        max_new_tokens=max_tokens,
        judge=_judge(judge, staged, trait) if judge else None,
        judge_name=judge,
        threshold=threshold,
    )
    written = save_vectors(vectors, output)
    console.print(f"{len(responses)} replies; vectors at blocks {vectors.provenance.layers} → {escape(str(written))}")


@vectors_app.command("axis")
def axis_command(
    character: Annotated[Path, typer.Argument(help="A character file or card.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The vector file to write (.safetensors).")],
    model: Model = "default",
    layers: Layers = "-1",
    questions: Annotated[
        Path | None, typer.Option(help="A text file of questions, one per line (default: the traits' probes).")
    ] = None,
    max_tokens: Annotated[int, typer.Option(help="Length of each reply.", min=1)] = 64,
) -> None:
    """Extract a character's axis: the character staged minus the model's default persona, on the same questions."""
    from characterlab.interp import character_axis, save_vectors

    staged = load_any(character)
    if questions is not None:
        asked = [line.strip() for line in questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        asked = list(dict.fromkeys(probe for trait in staged.traits for probe in trait.probes))
    if not asked:
        raise CharacterlabError(f"no questions: {character} has no trait probes; give --questions FILE")
    vectors, _ = character_axis(local_engine(model), staged, asked, layers=_layers(layers), max_new_tokens=max_tokens)
    written = save_vectors(vectors, output)
    console.print(
        f"{len(asked)} questions × 2 personas; axis at blocks {vectors.provenance.layers} → {escape(str(written))}"
    )


class TraitScorer(StrEnum):
    """How a sweep scores the trait in a reply, without a judge model."""

    embedding = "embedding"
    programmatic = "programmatic"


@vectors_app.command("sweep")
def sweep_command(
    file: Annotated[Path, typer.Argument(help="A vector file (from `characterlab vectors trait`).")],
    character: Annotated[Path, typer.Option(help="The character whose trait it is.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The page to write (.html); a .csv beside it.")],
    model: Model = "default",
    layers: Annotated[str | None, typer.Option(help="Blocks to steer at, one at a time (default: the file's).")] = None,
    coefficients: Annotated[
        str, typer.Option(help="Steering coefficients, comma-separated (1 = the whole difference of the means).")
    ] = "-2,-1,0,1,2",
    question: Annotated[
        list[str] | None, typer.Option("--question", help="A question to ask besides the trait's probes (repeatable).")
    ] = None,
    scorer: Annotated[
        TraitScorer,
        typer.Option(
            help="embedding: nearer the trait's examples than its counterexamples; programmatic: its scorers."
        ),
    ] = TraitScorer.embedding,
    max_tokens: Annotated[int, typer.Option(help="Length of each reply.", min=1)] = 64,
) -> None:
    """Steer along a trait's direction over coefficients: the trait's score beside a capability check."""
    from characterlab.interp import read_vectors, steering_sweep, sweep_page, sweep_table

    vectors = read_vectors(file)
    staged = load_any(character)
    trait_id = vectors.provenance.trait
    if trait_id is None:
        raise CharacterlabError(f"{file} is not a trait's vectors (kind {vectors.provenance.kind}); sweep a trait file")
    try:
        trait = staged.trait(trait_id)
    except KeyError as error:
        raise CharacterlabError(str(error.args[0])) from error
    asked = list(dict.fromkeys([*trait.probes, *(question or [])]))
    if not asked:
        raise CharacterlabError(f"trait {trait_id!r} of {staged.name} has no probes; give --question")
    score, described = _trait_scorer(trait, scorer)
    points = steering_sweep(
        local_engine(model),
        vectors,
        questions=asked,
        score=score,
        layers=_layers(layers) if layers else None,
        coefficients=_numbers(coefficients),
        max_new_tokens=max_tokens,
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(sweep_page(points, vectors, scorer=described), encoding="utf-8")
    sweep_table(points).to_csv(output.with_suffix(".csv"), index=False)
    console.print(f"{len(points)} points → {escape(str(output))} (and {escape(str(output.with_suffix('.csv')))})")


@vectors_app.command("show")
def show_command(file: Annotated[Path, typer.Argument(help="A vector file.")]) -> None:
    """Show a vector file's provenance and each vector's length."""
    from characterlab.interp import read_vectors

    vectors = read_vectors(file)
    table = Table("", "", show_header=False, title=escape(str(file)))
    for name, value in vectors.provenance.model_dump(by_alias=True).items():
        table.add_row(name, escape(str(value)))
    for layer, vector in sorted(vectors.by_layer.items()):
        table.add_row(f"|layer.{layer}|", f"{float(vector.norm()):.4g}")
    console.print(table)


def _layers(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise CharacterlabError(
            f"--layers {text!r}: expected block numbers separated by commas, e.g. 6,9,-1"
        ) from error


def _numbers(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise CharacterlabError(f"--coefficients {text!r}: expected numbers separated by commas") from error


def _trait_scorer(trait: Trait, kind: TraitScorer) -> tuple[Callable[[str, str], float | None], str]:
    """A judge-free scorer of the trait and its description for the page."""
    from characterlab.scorers import embedding_contrast, load_embedding_model, programmatic_scores

    if kind is TraitScorer.programmatic:
        if not trait.scorers:
            raise CharacterlabError(f"trait {trait.id!r} names no programmatic scorers; use --scorer embedding")

        def programmatic(question: str, reply: str) -> float | None:
            values = [value for value in programmatic_scores(trait, reply).values() if not math.isnan(value)]
            return sum(values) / len(values) if values else None

        return programmatic, "the trait's programmatic scorers (mean)"
    examples = [exchange.response for exchange in trait.examples]
    counterexamples = [exchange.response for exchange in trait.counterexamples]
    if not examples or not counterexamples:
        raise CharacterlabError(f"trait {trait.id!r} needs examples and counterexamples for --scorer embedding")
    model = load_embedding_model()

    def contrast(question: str, reply: str) -> float | None:
        value = embedding_contrast(model, reply, examples, counterexamples)
        return None if math.isnan(value) else value

    return contrast, "embedding contrast (similarity to the examples minus to the counterexamples)"


def _judge(name: str, character: Character, trait_id: str) -> Callable[[Sequence[tuple[str, str]]], list[float | None]]:
    """The trait judge (a 0-100 rubric built from the trait), asked about every reply concurrently."""
    import asyncio

    from characterlab.dialogue import inspect_model
    from characterlab.scorers import judge_score, trait_rubric

    try:
        rubric = trait_rubric(character.trait(trait_id), character_name=character.name)
    except KeyError as error:
        raise CharacterlabError(str(error.args[0])) from error
    model = inspect_model(name)

    async def all_scores(pairs: Sequence[tuple[str, str]]) -> list[float | None]:
        scores = await asyncio.gather(*(judge_score(model, rubric, question, reply) for question, reply in pairs))
        return [None if math.isnan(score.value) else score.value for score in scores]

    return lambda pairs: asyncio.run(all_scores(pairs))
