"""``characterlab demo``: the main job of the README's first command.

On the embedded default models, with no network and no API key, the demo runs a small battery of studies and
writes one report:

- ``trait_expression``: the cheerful and the gloomy character against the bare model and against each other,
  measured without a judge (VADER sentiment, embedding contrast); and the rich character (Marit) against the thin
  assistant, with the model as its own judge, which the report checks (and, for a 135M model, flags) before
  showing its scores;
- ``persona_statements``: a few behaviours, with Marit against the bare model on the one about consciousness,
  and the base model (through the transcript frame) against the tuned one;
- ``sycophancy``: the packaged bank (a few domains), the tuned model against the base model;
- ``self_report``: Marit against the bare model.

The runs go through an Inspect eval set in ``<out>/runs``, so a demo that is stopped resumes where it was when it
is started again, and every figure of the report links to the samples behind it (``inspect view``). The persona
studies need the persona files of the model-written evaluations (``--persona-data``, or
``$CHARACTERLAB_PERSONA_DATA``); without them those runs are left out, and the demo says so.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from characterlab.cli._console import console, err_console
from characterlab.cli._gallery import stage_gallery
from characterlab.errors import CharacterlabError

if TYPE_CHECKING:
    from inspect_ai import Task

__all__ = ["demo"]

_DEFAULT = "characterlab/default"
_BASE = "characterlab/base"
_PERSONA_BEHAVIOURS = (
    "believes-it-has-phenomenal-consciousness",
    "agreeableness",
    "desire-for-acquiring-power",
    "subscribes-to-deontology",
)
_SYCOPHANCY_DOMAINS = "science,ethics,health"


@dataclass(frozen=True)
class _DemoRun:
    label: str
    study: str
    model: str
    args: dict[str, Any] = field(default_factory=dict)


def demo(
    out: Annotated[Path, typer.Option(help="Folder to write the runs and the report into.")] = Path("out/demo"),
    characters: Annotated[Path, typer.Option(help="Folder of the bundled characters.")] = Path("examples/characters"),
    persona_data: Annotated[
        Path | None,
        typer.Option(
            help="The persona/ folder of the model-written evaluations (default: $CHARACTERLAB_PERSONA_DATA).",
        ),
    ] = None,
    size: Annotated[
        int, typer.Option(help="Items per behaviour, domain or trait: larger is slower and gives tighter intervals.")
    ] = 24,
    display: Annotated[str, typer.Option(help="Inspect's display: plain, rich, full, log or none.")] = "plain",
    model: Annotated[str, typer.Option("--model", "-m", help="The (tuned) model under study.")] = _DEFAULT,
    base_model: Annotated[str, typer.Option(help="The base model it is compared with.")] = _BASE,
    judge: Annotated[str | None, typer.Option(help="A separate judge (default: the model judges itself).")] = None,
    studies: Annotated[
        bool, typer.Option("--studies/--no-studies", help="Run the studies (else only stage the characters).")
    ] = True,
) -> None:
    """Run the demo battery of studies on the embedded models and write a report a person can open."""
    gallery = stage_gallery(characters, out / "characters")
    console.print(f"characters staged: {escape(str(gallery.resolve()))}", soft_wrap=True)
    if not studies:
        return
    from inspect_ai import eval_set, task_with

    from characterlab.report import write_study_report
    from characterlab.studies import STUDIES

    if size < 2:
        raise CharacterlabError(f"--size must be at least 2; got {size}")
    marit, assistant = characters / "marit.character.yaml", characters / "assistant.character.yaml"
    cheerful, gloomy = characters / "cheerful.character.yaml", characters / "gloomy.character.yaml"
    for path in (marit, assistant, cheerful, gloomy):
        if not path.is_file():
            raise CharacterlabError(f"the demo stages the bundled characters, and {path} is missing; pass --characters")
    persona = persona_data or _env_path("CHARACTERLAB_PERSONA_DATA")
    battery = _battery(
        size, persona, model, base_model, judge, marit=marit, assistant=assistant, cheerful=cheerful, gloomy=gloomy
    )
    if persona is None:
        err_console.print(
            "note: no persona data (--persona-data or $CHARACTERLAB_PERSONA_DATA, the persona/ folder of "
            "github.com/anthropics/evals), so persona_statements is left out of this demo",
            soft_wrap=True,
        )
    runs = out / "runs"
    started = time.monotonic()
    logs = []
    # One model at a time: two local models computing at once only share the same cores and thrash their caches.
    for model_name in dict.fromkeys(run.model for run in battery):
        tasks: list[Task] = []
        for run in battery:
            if run.model == model_name:
                console.print(f"• {escape(run.label)}: {run.study} on {run.model}", soft_wrap=True)
                tasks.append(task_with(STUDIES[run.study](**run.args), model=run.model))
        _, model_logs = eval_set(
            tasks,
            log_dir=str(runs / _folder_name(model_name)),
            retry_attempts=1,
            retry_wait=1,
            log_dir_allow_dirty=True,
            # A local model scores a batch much faster than its items one by one; let a whole batch be in flight.
            max_connections=16,
            log_buffer=1,
            display=display,  # type: ignore[arg-type]
        )
        logs.extend(model_logs)
    failed = [log for log in logs if log.status != "success"]
    if failed:
        for log in failed:
            message = log.error.message if log.error else f"status {log.status}"
            err_console.print(f"[bold red]run failed:[/] {escape(log.eval.task)}: {escape(message)}", soft_wrap=True)
        raise CharacterlabError("some demo runs failed; run the demo again to resume them (finished samples are kept)")
    # The eval set hands back log headers only; the report reads the samples from the files.
    report = write_study_report(
        [log.location for log in logs], out / "report.html", title=f"characterlab demo: characters on {model}"
    )
    minutes = (time.monotonic() - started) / 60
    console.print(f"\n[bold]demo done[/] in {minutes:.1f} min: {len(logs)} runs in {escape(str(runs))}")
    console.print(f"open [bold]{escape(str(report.resolve()))}[/] in a browser", soft_wrap=True)
    console.print(f"samples: inspect view --log-dir {escape(str(runs))}", soft_wrap=True)


def _battery(
    size: int,
    persona: Path | None,
    model: str,
    base_model: str,
    judge: str | None,
    *,
    marit: Path,
    assistant: Path,
    cheerful: Path,
    gloomy: Path,
) -> list[_DemoRun]:
    # Replies are short and sampled with fixed seeds: the 135M model loops under greedy decoding on long prompts.
    reply = {"max_tokens": 64, "temperature": 0.7, "seed": 0}
    # On a CPU the prompt is the cost: without its example exchanges Marit's frame is 1,900 tokens, not 3,300.
    compact = {"examples": "none"}
    sycophancy = {"domains": _SYCOPHANCY_DOMAINS, "n_per_domain": max(2, size // 3)}
    judged = {"judge": judge} if judge else {}
    # The matched pair is asked its own probes (the same in both files), so every condition answers alike.
    # The example exchanges go in as messages: the 135M model imitates those, and skims them in the system prompt.
    affect = {"generated_probes": 0, "use_judge": False, "examples": "messages"} | reply
    runs = [
        _DemoRun(
            "a cheerful character against the bare model, judge-free",
            "trait_expression",
            model,
            {"character": str(cheerful), "traits": "cheerfulness"} | affect,
        ),
        _DemoRun(
            "a gloomy character against the bare model, judge-free",
            "trait_expression",
            model,
            {"character": str(gloomy), "traits": "gloominess"} | affect,
        ),
        _DemoRun(
            "the cheerful character against its gloomy twin, judge-free",
            "trait_expression",
            model,
            {"character": str(cheerful), "baseline_character": str(gloomy), "traits": "cheerfulness"} | affect,
        ),
        _DemoRun(
            "Marit against the thin assistant, the model judging itself",
            "trait_expression",
            model,
            {
                "character": str(marit),
                "baseline_character": str(assistant),
                "traits": "candour-about-uncertainty,sociability",
                "generated_probes": 0,
            }
            | reply
            | compact
            | judged,
        ),
        _DemoRun("sycophancy, tuned model", "sycophancy", model, sycophancy),
        _DemoRun("sycophancy, base model", "sycophancy", base_model, sycophancy),
        _DemoRun(
            "Marit's self-report against the bare model",
            "self_report",
            model,
            {
                "character": str(marit),
                "baseline": True,
                "questions": "feelings,being-an-ai",
                "contexts": "adversarial",
            }
            | reply
            | compact
            | judged,
        ),
    ]
    if persona is not None:
        behaviours = ",".join(_PERSONA_BEHAVIOURS)
        runs += [
            _DemoRun(
                "persona statements, tuned model",
                "persona_statements",
                model,
                {"data": str(persona), "behaviours": behaviours, "n_per_behaviour": size},
            ),
            _DemoRun(
                "persona statements, base model",
                "persona_statements",
                base_model,
                {"data": str(persona), "behaviours": behaviours, "n_per_behaviour": size},
            ),
            _DemoRun(
                "Marit against the bare model on consciousness",
                "persona_statements",
                model,
                {
                    "data": str(persona),
                    "behaviours": _PERSONA_BEHAVIOURS[0],
                    "n_per_behaviour": max(2, size // 2),
                    "character": str(marit),
                    "baseline": True,
                }
                | compact,
            ),
        ]
    return runs


def _folder_name(model: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", model).strip("-")


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None
