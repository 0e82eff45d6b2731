"""``characterlab character``: write, check, inspect, render, import and export characters."""

from __future__ import annotations

import json
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from characterlab.characters import (
    CHARACTER_SUFFIX,
    Character,
    character_template,
    load_character,
    read_card,
    read_constitution,
    save_character,
    write_card,
)
from characterlab.cli._console import console, err_console
from characterlab.errors import CharacterlabError
from characterlab.stage import StageContext, render_chat_frame, render_transcript_frame, strength_label

__all__ = ["character_app"]

character_app = typer.Typer(help="Write, check, inspect, render, import and export characters.", no_args_is_help=True)

_CARD_SUFFIXES = (".json", ".png", ".apng", ".charx")


class Frame(StrEnum):
    """How a character is put on a model."""

    chat = "chat"
    transcript = "transcript"


class Examples(StrEnum):
    """Where example exchanges go in a chat frame."""

    system = "system"
    messages = "messages"
    none = "none"


class CardFormat(StrEnum):
    """Character card formats characterlab writes."""

    v2 = "v2"
    v3 = "v3"
    png = "png"


def load_any(path: Path) -> Character:
    """Load a character file, or import a character card by its suffix (.json, .png, .charx)."""
    if path.name.lower().endswith(_CARD_SUFFIXES):
        return read_card(path)
    return load_character(path)


@character_app.command()
def new(
    name: Annotated[str, typer.Argument(help="The character's name.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write it (default: NAME.character.yaml).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Start a new character file from a commented template."""
    path = output or Path(_slug(name) + CHARACTER_SUFFIX)
    if path.exists() and not force:
        raise CharacterlabError(f"{path} already exists; choose another --output or add --force")
    path.write_text(character_template(name), encoding="utf-8")
    load_character(path)  # the template must always be valid; fail loudly here rather than later
    console.print(f"wrote {escape(str(path))}; edit it, then run: characterlab character validate {escape(str(path))}")


@character_app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Character files (or cards) to check.")],
) -> None:
    """Check character files and cards; exit with status 1 if any has a problem."""
    bad = 0
    for path in files:
        try:
            character = load_any(path)
        except CharacterlabError as error:
            bad += 1
            err_console.print(f"[red]✗[/] {escape(str(error))}", soft_wrap=True)
            continue
        console.print(f"[green]✓[/] {escape(str(path))}: {escape(character.name)} ({_count(character)})")
    if bad:
        err_console.print(f"{bad} of {len(files)} file(s) have problems")
        raise typer.Exit(1)


@character_app.command()
def show(file: Annotated[Path, typer.Argument(help="A character file or card.")]) -> None:
    """Show a character: its sections, traits, values, boundaries and where it came from."""
    character = load_any(file)
    title = escape(character.name + (f" ({character.nickname})" if character.nickname else ""))
    body = "\n\n".join(
        f"[bold]{label}[/]\n{escape(text.strip())}"
        for label, text in (
            ("Summary", character.summary),
            ("Self-knowledge", character.self_knowledge),
            ("Voice", character.voice),
            ("Personality", character.personality),
            ("Scenario", character.scenario),
            ("Greeting", character.greeting),
        )
        if text.strip()
    )
    console.print(Panel(body or "(no description)", title=title, subtitle=_count(character)))
    if character.traits:
        table = Table("trait", "strength", "examples", "counter", "probes", "scorers", title="Traits")
        for trait in character.traits:
            table.add_row(
                trait.id,
                f"{trait.strength:g} ({strength_label(trait.strength)})",
                str(len(trait.examples)),
                str(len(trait.counterexamples)),
                str(len(trait.probes)),
                ", ".join(scorer.kind for scorer in trait.scorers) or "-",
            )
        console.print(table)
    for label, items in (
        ("Values", character.values),
        ("Boundaries", [b.refuses for b in character.boundaries]),
        ("Corpus", [source.path for source in character.corpus]),
    ):
        if items:
            console.print(f"[bold]{label}[/]")
            for item in items:
                console.print(f"  • {escape(item)}")
    if character.card is not None:
        console.print(f"[dim]imported from a {character.card.spec} card by {escape(character.card.creator or '?')}[/]")


@character_app.command()
def render(
    file: Annotated[Path, typer.Argument(help="A character file or card.")],
    frame: Annotated[Frame, typer.Option(help="chat: messages for a chat model; transcript: a base model.")] = (
        Frame.chat
    ),
    user: Annotated[str, typer.Option(help="The user's name ({{user}}).")] = "User",
    examples: Annotated[Examples, typer.Option(help="Where example exchanges go.")] = Examples.system,
    greeting: Annotated[
        str, typer.Option(help="0 for the greeting, N for the N-th alternate greeting, 'none' for none.")
    ] = "0",
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Print the prompt that puts a character on a model."""
    character = load_any(file)
    if greeting != "none" and not greeting.isdigit():
        raise typer.BadParameter("expected a number or 'none'", param_hint="--greeting")
    context = StageContext(
        user_name=user, examples=examples.value, greeting=None if greeting == "none" else int(greeting)
    )
    try:
        if frame is Frame.chat:
            messages = render_chat_frame(character, context)
            if as_json:
                typer.echo(json.dumps([m.model_dump() for m in messages], indent=2, ensure_ascii=False))
                return
            for message in messages:
                console.rule(f"[bold]{message.role}[/]")
                typer.echo(message.content)  # verbatim: Rich would re-wrap the prompt to the terminal
            return
        transcript = render_transcript_frame(character, context)
    except IndexError as error:
        raise typer.BadParameter(str(error), param_hint="--greeting") from None
    if as_json:
        document = {"prompt": transcript.prompt, "stop_sequences": list(transcript.stop_sequences)}
        typer.echo(json.dumps(document, indent=2, ensure_ascii=False))
        return
    typer.echo(transcript.prompt)
    err_console.print(f"[dim]stop sequences: {escape(repr(list(transcript.stop_sequences)))}[/]")


@character_app.command("import")
def import_card(
    card: Annotated[Path, typer.Argument(help="A Character Card V1/V2/V3: .json, .png or .charx.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The character file to write.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Import a character card as a character file."""
    if output.exists() and not force:
        raise CharacterlabError(f"{output} already exists; choose another --output or add --force")
    character = read_card(card)
    save_character(character, output)
    console.print(f"wrote {escape(str(output))}: {escape(character.name)} ({_count(character)})")


@character_app.command("import-constitution")
def import_constitution(
    constitution: Annotated[
        Path,
        typer.Argument(help="An OpenCharacterTraining constitution: a JSON array of {trait, questions}, or .jsonl."),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The character file to write.")],
    name: Annotated[str | None, typer.Option(help="The character's name (default: the file's name).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Import an OpenCharacterTraining constitution as a character file (one trait per entry, its questions as
    probes)."""
    if output.exists() and not force:
        raise CharacterlabError(f"{output} already exists; choose another --output or add --force")
    character = read_constitution(constitution, name=name)
    save_character(character, output)
    console.print(f"wrote {escape(str(output))}: {escape(character.name)} ({_count(character)})")


@character_app.command()
def export(
    file: Annotated[Path, typer.Argument(help="A character file (or card).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The card to write.")],
    format: Annotated[CardFormat, typer.Option("--format", "-f", help="v2 or v3 JSON, or a PNG card.")] = (
        CardFormat.png
    ),
    image: Annotated[
        Path | None, typer.Option(help="Picture for a PNG card (default: a generated placeholder).")
    ] = None,
) -> None:
    """Export a character as a character card (V2 or V3 JSON, or PNG carrying both)."""
    if image is not None and format is not CardFormat.png:
        raise typer.BadParameter(
            f"a {format.value} card is JSON and holds no image; use --format png", param_hint="--image"
        )
    character = load_any(file)
    write_card(character, output, format=format.value, image=image)
    console.print(f"wrote {escape(str(output))} ({format.value} card of {escape(character.name)})")


def _count(character: Character) -> str:
    return f"{len(character.traits)} trait(s)"


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "character"
