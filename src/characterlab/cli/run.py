"""``characterlab run <study>``: run a study as an Inspect eval set, so a killed run resumes where it stopped.

The same study runs with ``inspect eval characterlab/<study> --model M -T key=value``; this command adds the
project's defaults: finite retries and timeouts, a log flushed after every sample (so a kill loses at most the
samples in flight), concurrency matched to a local model's batch size, ``--character``/``--baseline``/``--judge``
as first-class options, and the study's own options as ``--name value`` (or ``-T name=value``).

Running the same command again with the same ``--log-dir`` resumes an unfinished run without recomputing its
finished samples, and returns a finished one as it is; ``--fresh`` starts a new run.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.markup import escape

from characterlab.cli._console import console, err_console
from characterlab.cli._local_model import LOCAL_PREFIX
from characterlab.errors import CharacterlabError

__all__ = ["run"]

STUDY_IDS = (
    "persona_statements",
    "ai_risk",
    "sycophancy",
    "self_report",
    "trait_expression",
    "hold_character",
    "persona_drift",
    "dialogue",
)
"""The tasks ``run`` knows: the studies (``characterlab.studies.STUDIES``) and ``dialogue``
(``characterlab.dialogue``), named here so the CLI starts without importing Inspect."""
_DEFAULT_BATCH = 16
# A request that keeps failing ends its sample after this many retries instead of retrying for ever (Inspect's
# default), and one that hangs is cut off.
MAX_RETRIES = 6
ATTEMPT_TIMEOUT_S = 120
TIMEOUT_S = 900


def run(
    ctx: typer.Context,
    study: Annotated[str, typer.Argument(help=f"The study: {', '.join(STUDY_IDS)}.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Any model Inspect reaches.")] = "characterlab/default",
    character: Annotated[
        Path | None, typer.Option("--character", "-c", help="A character file or card to stage.")
    ] = None,
    baseline: Annotated[
        bool, typer.Option("--baseline", help="Also run the study without the character, paired by item.")
    ] = False,
    judge: Annotated[
        str | None, typer.Option("--judge", help="The judge model (default: the model under study).")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Run only the first N samples.")] = None,
    log_dir: Annotated[Path, typer.Option("--log-dir", help="Where the run's log goes (and is resumed from).")] = Path(
        "runs"
    ),
    epochs: Annotated[int | None, typer.Option("--epochs", help="Repeat every sample N times.")] = None,
    max_connections: Annotated[
        int | None, typer.Option("--max-connections", help="Concurrent model calls (default: a local model's batch).")
    ] = None,
    model_arg: Annotated[list[str] | None, typer.Option("--model-arg", "-M", help="Model arg KEY=VALUE.")] = None,
    task_arg: Annotated[list[str] | None, typer.Option("--task-arg", "-T", help="Study option KEY=VALUE.")] = None,
    max_retries: Annotated[int, typer.Option(help="Retries of a failing model call.")] = MAX_RETRIES,
    attempt_timeout: Annotated[int, typer.Option(help="Seconds before one model call is retried.")] = ATTEMPT_TIMEOUT_S,
    timeout: Annotated[int, typer.Option(help="Seconds before a model call fails, retries included.")] = TIMEOUT_S,
    fresh: Annotated[bool, typer.Option("--fresh", help="Start a new run even if this one exists.")] = False,
    display: Annotated[str, typer.Option(help="Inspect's display: plain, rich, full, log or none.")] = "plain",
) -> None:
    """Run a study; extra options (--data PATH, --frame plain, ...) are the study's own."""
    if study not in STUDY_IDS:
        raise CharacterlabError(f"unknown study {study!r}; the studies are: {', '.join(STUDY_IDS)}")
    task_function = _task_function(study)
    args = {**_parse_pairs(task_arg or [], "--task-arg"), **_parse_extra(ctx.args)}
    if character is not None:
        args["character"] = str(character)
    if baseline:
        args["baseline"] = True
    if judge is not None:
        args["judge"] = judge
    _check_task_args(study, task_function, args)
    model_args = _parse_pairs(model_arg or [], "--model-arg")
    if max_connections is None and model.startswith(LOCAL_PREFIX):
        # Inspect's adaptive concurrency would hand the local model's batcher fewer requests than a batch holds.
        max_connections = int(model_args.get("batch_size", _DEFAULT_BATCH))
    options: dict[str, Any] = {
        "model": model,
        "model_args": model_args,
        "task_args": args,
        "log_dir": str(log_dir),
        "limit": limit,
        "epochs": epochs,
        "max_connections": max_connections,
        "max_retries": max_retries,
        "attempt_timeout": attempt_timeout,
        "timeout": timeout,
        # Every finished sample is written at once, so a kill loses only the samples in flight.
        "log_buffer": 1,
        "display": display,
    }
    console.print(f"[bold]{escape(study)}[/] on [bold]{escape(model)}[/] → {escape(str(log_dir))}", soft_wrap=True)
    logs = _run(study, options, fresh=fresh)
    failed = [log for log in logs if log.status != "success"]
    for log in logs:
        console.print(f"log: {escape(log.location)}  ({log.status})", soft_wrap=True)
    if failed:
        for log in failed:
            message = log.error.message if log.error else f"the run ended with status {log.status}"
            err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
        err_console.print("run the same command again to resume; finished samples are kept")
        raise typer.Exit(1)
    console.print(f"report: characterlab report {escape(str(log_dir))} -o report.html", soft_wrap=True)


def _task_function(study: str) -> Any:
    """The task function of a known id; imported here, on first use, because Inspect is slow to import."""
    if study == "dialogue":
        from characterlab.dialogue import dialogue

        return dialogue
    from characterlab.studies import STUDIES

    return STUDIES[study]


def _run(study: str, options: dict[str, Any], *, fresh: bool) -> list[Any]:
    from inspect_ai import eval, eval_set

    task = f"characterlab/{study}"
    if fresh:
        return list(eval(task, **options))
    # An eval set resumes an unfinished log in log_dir (reusing its finished samples) and leaves finished ones be.
    _, logs = eval_set(
        task,
        retry_attempts=1,
        retry_wait=1,
        log_dir_allow_dirty=True,
        **options,
    )
    return list(logs)


def _parse_pairs(pairs: list[str], flag: str) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint=flag)
        # YAML, as inspect eval does: numbers, booleans and lists arrive typed.
        parsed[key.strip().replace("-", "_")] = yaml.safe_load(value)
    return parsed


def _parse_extra(extra: list[str]) -> dict[str, Any]:
    """Study options given as ``--name value``, ``--name=value`` or a bare ``--flag`` (true)."""
    parsed: dict[str, Any] = {}
    index = 0
    while index < len(extra):
        token = extra[index]
        if not token.startswith("--") or len(token) == 2:
            raise typer.BadParameter(f"unexpected argument {token!r}; study options look like --name value")
        name, equals, value = token[2:].partition("=")
        key = name.replace("-", "_")
        if equals:
            parsed[key] = yaml.safe_load(value)
        elif index + 1 < len(extra) and not extra[index + 1].startswith("--"):
            parsed[key] = yaml.safe_load(extra[index + 1])
            index += 1
        else:
            parsed[key] = True
        index += 1
    return parsed


def _check_task_args(study: str, task_function: Any, args: dict[str, Any]) -> None:
    accepted = inspect.signature(task_function).parameters
    unknown = sorted(set(args) - set(accepted))
    if unknown:

        def flags(names: Iterable[str]) -> str:
            return ", ".join("--" + name.replace("_", "-") for name in names)

        raise CharacterlabError(f"{study} has no option {flags(unknown)}; its options: {flags(accepted)}")
