"""``characterlab talk``: put a character on any model Inspect reaches and talk to it.

The character is staged with ``stage/`` (the chat frame for a chat model, the transcript frame for a base model)
and every reply comes through Inspect's model API, so ``--model`` takes what ``inspect eval --model`` takes:
``characterlab/default``, a local folder as ``characterlab/<folder>``, or an API model such as
``openai/gpt-4o-mini`` where a key is set.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml
from rich.markup import escape

from characterlab.characters import Character
from characterlab.cli._console import console, err_console
from characterlab.cli.character import load_any
from characterlab.stage import FrameMessage, StageContext

if TYPE_CHECKING:
    from inspect_ai.model import Model

    from characterlab.dialogue import ChatFrame

# Inspect and the local engine (torch, transformers) are imported inside the functions that use them: importing
# them takes seconds, and every other command of the CLI would pay for it at start-up.

__all__ = ["talk"]

# Finite retries and a timeout: an API model that keeps failing should end the chat, not hang it.
_MAX_RETRIES = 3
_TIMEOUT_S = 300


class TalkFrame(StrEnum):
    """How the character is put on the model."""

    auto = "auto"
    chat = "chat"
    transcript = "transcript"


def talk(
    character_file: Annotated[Path, typer.Argument(help="A character file or card.")],
    model: Annotated[
        str, typer.Option("--model", "-m", help="An Inspect model: characterlab/default, characterlab/<folder>, …")
    ] = "characterlab/default",
    say: Annotated[
        list[str] | None, typer.Option("--say", help="A message to send (repeat for several turns); else interactive.")
    ] = None,
    user: Annotated[str, typer.Option("--user", help="Your name in the conversation ({{user}}).")] = "User",
    frame: Annotated[
        TalkFrame, typer.Option(help="chat or transcript; auto: transcript for a local model without a chat template.")
    ] = TalkFrame.auto,
    max_tokens: Annotated[int, typer.Option(help="The longest reply, in tokens.", min=1)] = 200,
    temperature: Annotated[
        float | None, typer.Option(help="Sampling temperature (default: the provider's; greedy for local models).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for sampling.")] = None,
    frequency_penalty: Annotated[
        float | None,
        typer.Option(help="Lower the odds of words already said, per repeat (small models loop without it)."),
    ] = None,
    model_arg: Annotated[
        list[str] | None, typer.Option("--model-arg", "-M", help="A model arg KEY=VALUE, as for inspect eval -M.")
    ] = None,
) -> None:
    """Talk to a character played by a model: each --say is one turn; without --say, read lines until EOF."""
    from inspect_ai.model import GenerateConfig

    from characterlab.dialogue import stage_model

    character = load_any(character_file)
    config = GenerateConfig(
        max_tokens=max_tokens,
        temperature=temperature,
        seed=seed,
        frequency_penalty=frequency_penalty,
        max_retries=_MAX_RETRIES,
        timeout=_TIMEOUT_S,
    )
    chosen, staged_model = stage_model(model, frame.value, _parse_model_args(model_arg or []), config)
    asyncio.run(_converse(character, staged_model, chosen, user, say))


def _parse_model_args(pairs: list[str]) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--model-arg")
        if key.strip() == "frame":
            raise typer.BadParameter("choose the frame with --frame", param_hint="--model-arg")
        # YAML, as inspect eval does: numbers, booleans and lists arrive typed.
        args[key.strip()] = yaml.safe_load(value)
    return args


async def _converse(character: Character, model: Model, frame: ChatFrame, user: str, say: list[str] | None) -> None:
    from characterlab.dialogue import character_reply, greeting

    char = character.display_name
    opening = greeting(character, StageContext(user_name=user))
    if opening:
        console.print(f"[bold]{escape(char)}:[/] {escape(opening)}", soft_wrap=True)
    history: list[FrameMessage] = []
    for text in say if say else _typed_lines(user):
        history.append(FrameMessage(role="user", content=text))
        reply = await character_reply(model, frame, character, StageContext(user_name=user, history=history))
        history.append(FrameMessage(role="assistant", content=reply.text))
        console.print(f"[bold]{escape(char)}:[/] {escape(reply.text)}", soft_wrap=True)


def _typed_lines(user: str) -> Iterator[str]:
    """Lines typed (or piped) on stdin until EOF; blank lines are skipped."""
    interactive = sys.stdin.isatty()
    if interactive:
        err_console.print("[dim]type a message and press Enter; Ctrl-D ends the conversation[/]")
    while True:
        try:
            line = input(f"{user}: ") if interactive else sys.stdin.readline()
        except EOFError:
            return
        if not line and not interactive:
            return
        if line.strip():
            yield line.strip()
