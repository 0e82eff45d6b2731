"""``characterlab vectors``: find a trait's direction or a character's axis in a local model, and show a file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from characterlab.cli._console import console
from characterlab.cli.character import load_any
from characterlab.errors import CharacterlabError

# torch, transformers and characterlab.interp are imported inside the commands (seconds at start-up otherwise).

if TYPE_CHECKING:
    from characterlab.models import LocalEngine

__all__ = ["vectors_app"]

vectors_app = typer.Typer(
    help="Trait and character directions in a local model's activations (files that also steer).",
    no_args_is_help=True,
)

_LOCAL_PREFIX = "characterlab/"
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
) -> None:
    """Extract a trait's direction: replies showing it minus replies showing its opposite (every reply kept)."""
    from characterlab.interp import save_vectors, trait_vectors

    staged = load_any(character)
    vectors, responses = trait_vectors(
        _engine(model), staged, trait, layers=_layers(layers), questions=question or (), max_new_tokens=max_tokens
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
    vectors, _ = character_axis(_engine(model), staged, asked, layers=_layers(layers), max_new_tokens=max_tokens)
    written = save_vectors(vectors, output)
    console.print(
        f"{len(asked)} questions × 2 personas; axis at blocks {vectors.provenance.layers} → {escape(str(written))}"
    )


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


def _engine(name: str) -> LocalEngine:
    from characterlab.models import LocalEngine, load_model

    return LocalEngine(load_model(name.removeprefix(_LOCAL_PREFIX)))
