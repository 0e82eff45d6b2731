"""``characterlab models``: what each provider can do, and the local models (prepare the defaults, inspect one)."""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from characterlab.cli._console import console, err_console
from characterlab.cli._local_model import LOCAL_PREFIX

# characterlab.models is imported inside each command: it loads torch and transformers, which takes seconds that
# every other command of the CLI would pay at start-up.

__all__ = ["models_app"]

models_app = typer.Typer(
    help="What each model provider can do; prepare and inspect local models.", no_args_is_help=True
)


class Embedded(StrEnum):
    """The embedded local models to prepare."""

    default = "default"
    base = "base"
    all = "all"


@models_app.command("list")
def list_providers() -> None:
    """Show what every Inspect provider can do: generate, score options, return activations, steer, load adapters."""
    from characterlab.models import PROVIDER_CAPABILITIES

    table = Table(
        "provider",
        "generate",
        "option log-probs",
        "activations",
        "steering",
        "adapters",
        "note",
        title="Model providers (as of inspect-ai 0.3.285)",
    )
    for name, capabilities in PROVIDER_CAPABILITIES.items():
        table.add_row(
            name,
            _mark(capabilities.generate),
            {"exact": "[green]exact[/]", "first_token": "[yellow]first token[/]", "none": "[dim]-[/]"}[
                capabilities.option_logprobs
            ],
            _mark(capabilities.activations),
            _mark(capabilities.steering),
            _mark(capabilities.adapters),
            escape(capabilities.note),
        )
    console.print(table)
    console.print(
        "Use a model as --model PROVIDER/MODEL. Providers not listed are assumed to generate only. "
        "First-token scoring needs options that differ in their first token (A/B/C).",
        soft_wrap=True,
    )


@models_app.command()
def prepare(
    which: Annotated[Embedded, typer.Argument(help="Which embedded model: default (chat), base, or all.")] = (
        Embedded.all
    ),
) -> None:
    """Convert the embedded models from their GGUF files into the cache, so later loads take about a second."""
    from characterlab.models import default_model_path

    names = ["default", "base"] if which is Embedded.all else [which.value]
    for name in names:
        started = time.monotonic()
        err_console.print(f"preparing characterlab/{name} …")
        path = default_model_path("default" if name == "default" else "base")
        seconds = time.monotonic() - started
        console.print(f"[green]✓[/] characterlab/{name}: {escape(str(path))} ({seconds:.1f} s)", soft_wrap=True)


@models_app.command()
def info(
    name: Annotated[str, typer.Argument(help="default, base, a model folder, a .gguf file or a hub id.")],
    gguf_file: Annotated[str | None, typer.Option(help="A GGUF file inside the folder NAME.")] = None,
    dtype: Annotated[str, typer.Option(help="auto, float32, bfloat16 or float16.")] = "auto",
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    adapter: Annotated[str | None, typer.Option(help="A PEFT (LoRA) adapter folder to apply.")] = None,
) -> None:
    """Load a local model and show its shape: layers, hidden size, chat template, dtype, device, source."""
    from characterlab.models import load_model

    loaded = load_model(
        name.removeprefix(LOCAL_PREFIX), gguf_file=gguf_file, dtype=dtype, device=device, adapter=adapter
    )
    config = loaded.model.config
    parameters = sum(parameter.numel() for parameter in loaded.model.parameters())
    table = Table("", "", show_header=False, title=f"characterlab/{escape(loaded.name)}")
    rows = {
        "source": loaded.source,
        "architecture": str(getattr(config, "model_type", "?")),
        "parameters": f"{parameters:,}",
        "layers": str(loaded.num_layers),
        "hidden size": str(loaded.hidden_size),
        "vocabulary": f"{len(loaded.tokenizer):,}",
        "chat template": "yes (frame: chat)" if loaded.has_chat_template else "no (frame: transcript)",
        "dtype": str(loaded.dtype).removeprefix("torch."),
        "device": str(loaded.device),
        "adapter": loaded.adapter or "-",
    }
    for key, value in rows.items():
        table.add_row(key, escape(value))
    console.print(table)


def _mark(value: bool) -> str:
    return "[green]yes[/]" if value else "[dim]-[/]"
