"""Inspect logs → tidy pandas tables: one row per measurement, one row per run.

A study run writes one Inspect log. A run that was stopped part-way leaves a log with status ``started`` holding
the samples that finished; resuming it (``inspect eval-retry``, ``eval_set``, or running the same task again)
writes a second log beside it. Both logs belong to one *logical run*: the tables key a logical run by what
determines its results (task, model, model and task arguments, and characterlab's metadata: character, settings,
judge) and keep, for each sample id and epoch, the newest copy that finished without an error, so that nothing is
counted twice.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import unquote, urlparse
from zipfile import BadZipFile

import pandas as pd
from inspect_ai.log import EvalLog, EvalSample, list_eval_logs, read_eval_log

from characterlab.errors import CharacterlabError

__all__ = [
    "SCORE_COLUMNS",
    "SCORE_METADATA_COLUMNS",
    "LogSource",
    "log_files",
    "read_logs",
    "runs_table",
    "score_metadata_table",
    "scores_table",
    "study_of",
]

LogSource = str | os.PathLike[str] | EvalLog
"""A log file (``.eval`` or ``.json``, by path or ``file://`` URI), a folder searched recursively for them, or a log
already read."""

SCORE_COLUMNS = (
    "run",
    "eval_id",
    "study",
    "model",
    "character",
    "sample_id",
    "epoch",
    "group",
    "condition",
    "item",
    "metric",
    "value",
    "error",
    "log",
    "scorer",
    "method",
)
"""The columns of :func:`scores_table`, in order."""

SCORE_METADATA_COLUMNS = ("run", "study", "sample_id", "epoch", "scorer", "log", "metadata")
"""The columns of :func:`score_metadata_table`, in order."""

_TASK_PREFIX = "characterlab/"
# Inspect's letter grades, for scorers that return them instead of numbers.
_GRADES = {"C": 1.0, "I": 0.0, "P": 0.5, "N": 0.0}


def _model_label(log: EvalLog) -> str:
    """The model a log ran on, as tables and reports name it: a LoRA adapter (a training bundle) is part of it."""
    adapter = (log.eval.model_args or {}).get("adapter")
    if isinstance(adapter, str) and adapter:
        return f"{log.eval.model} + {PurePath(adapter).name}"
    return log.eval.model


def read_logs(logs: LogSource | Iterable[LogSource]) -> list[EvalLog]:
    """Read Inspect logs from files and folders (folders are searched recursively).

    Args:
        logs: One source or several: ``.eval``/``.json`` log files, folders of them, or logs already read (kept
            as they are).

    Returns:
        The logs, in the order given (a folder's logs oldest first).

    Raises:
        CharacterlabError: A path does not exist, a folder holds no logs, or a file is not a readable log.
    """
    sources: list[LogSource] = [logs] if isinstance(logs, str | os.PathLike | EvalLog) else list(logs)
    read: list[EvalLog] = []
    for source in sources:
        if isinstance(source, EvalLog):
            read.append(source)
            continue
        # Inspect names a log under an absolute folder by a file:// URI (an eval set's ``log.location``).
        path = Path(_path_of(source)) if isinstance(source, str) and source.startswith("file://") else Path(source)
        if path.is_dir():
            files = log_files(path)
            if not files:
                raise CharacterlabError(f"{path}: no Inspect logs (*.eval or *.json) in this folder")
            read.extend(_read_one(file) for file in files)
        elif path.is_file():
            read.append(_read_one(path))
        else:
            raise CharacterlabError(f"{path}: no such file or folder (expected an Inspect log or a folder of logs)")
    return read


def scores_table(logs: LogSource | Iterable[LogSource]) -> pd.DataFrame:
    """One row per measurement: (run, sample id, epoch, metric) → value.

    Columns (see :data:`SCORE_COLUMNS`): ``run`` (the path of the log that stands for the logical run: its newest
    successful log), ``eval_id``, ``study`` (the task name without ``characterlab/``), ``model``, ``character``
    (``None`` when the study ran without one), ``sample_id`` (as text), ``epoch``, ``group``, ``condition``,
    ``item`` (from the sample metadata; ``item`` defaults to the sample id), ``metric``, ``value`` (a float; NaN
    is a missing measurement), ``error`` (the error message of an errored sample, whose metrics are all NaN),
    ``log`` (the file the sample was read from), ``scorer`` and ``method`` (the score's ``metadata["method"]``
    when it names one, e.g. ``logprobs`` or ``generate`` for option scoring).

    A run stopped part-way and its resumed run count each sample id and epoch once: the newest copy without an
    error is kept (an errored copy only when no copy finished).

    Args:
        logs: Log files, folders of logs, or logs already read.
    """
    rows: list[tuple[Any, ...]] = []
    for run in _logical_runs(read_logs(logs)):
        rows.extend(_score_rows(run))
    table = pd.DataFrame.from_records(rows, columns=list(SCORE_COLUMNS))
    table["epoch"] = table["epoch"].astype("int64")
    table["value"] = table["value"].astype("float64")
    return table


def score_metadata_table(
    logs: LogSource | Iterable[LogSource], *, studies: Collection[str] | None = None
) -> pd.DataFrame:
    """One row per kept sample and scorer with the score's metadata: what a scorer recorded beside its values.

    The scores table carries numbers only; some scorers also record structured detail per sample (the dialogue
    scorer's transcript and per-turn measures, the persona-drift scorer's probes), which reports read from here.
    The samples are those :func:`scores_table` keeps (the newest finished copy of each sample id and epoch), so
    the two tables join on (``run``, ``sample_id``, ``epoch``).

    Columns (see :data:`SCORE_METADATA_COLUMNS`): ``run``, ``study``, ``sample_id`` (as text), ``epoch``,
    ``scorer``, ``log`` (the file the sample was read from) and ``metadata`` (the score's metadata dict, empty
    when it recorded none). An errored sample without scores has no row.

    Args:
        logs: Log files, folders of logs, or logs already read.
        studies: Only the runs of these study ids (reading only what a report needs keeps it fast); ``None``:
            every run.
    """
    rows: list[tuple[Any, ...]] = []
    for run in _logical_runs(read_logs(logs)):
        for sample, log in run.samples:
            study = study_of(log)
            if studies is not None and study not in studies:
                continue
            location = _location(log)
            rows.extend(
                (run.path, study, str(sample.id), sample.epoch, scorer, location, dict(score.metadata or {}))
                for scorer, score in (sample.scores or {}).items()
            )
    table = pd.DataFrame.from_records(rows, columns=list(SCORE_METADATA_COLUMNS))
    table["epoch"] = table["epoch"].astype("int64")
    return table


def runs_table(logs: LogSource | Iterable[LogSource]) -> pd.DataFrame:
    """One row per log file, with what a reader needs to know about the run it belongs to.

    Columns: ``run`` (the logical run, as in :func:`scores_table`), ``log``, ``eval_id``, ``task_id``, ``status``,
    ``study``, ``task``, ``model``, ``character``, ``judge``, ``scoring``, ``settings`` (a dict),
    ``data_files`` (a list of dicts), ``metadata`` (the whole ``characterlab`` metadata dict), ``created``
    (a UTC timestamp), ``epochs``, ``temperature``, ``task_args`` (a dict), ``samples`` (samples in the file),
    ``errors`` (errored samples in the file), ``kept`` (samples of this file the scores table uses), ``expected``
    (dataset size, or its limit, × epochs) and ``error`` (the run's own error message, if it failed).

    Args:
        logs: Log files, folders of logs, or logs already read.
    """
    rows: list[dict[str, Any]] = []
    for run in _logical_runs(read_logs(logs)):
        for log in run.logs:
            meta = _characterlab_metadata(log)
            samples = log.samples or []
            config = log.eval.model_generate_config
            rows.append(
                {
                    "run": run.path,
                    "log": _location(log),
                    "eval_id": log.eval.eval_id,
                    "task_id": log.eval.task_id,
                    "status": log.status,
                    "study": study_of(log),
                    "task": log.eval.task,
                    "model": _model_label(log),
                    "character": meta.get("character"),
                    "judge": meta.get("judge"),
                    "scoring": meta.get("scoring"),
                    "settings": dict(meta.get("settings") or {}),
                    "data_files": list(meta.get("data_files") or []),
                    "metadata": meta,
                    "created": pd.Timestamp(_created(log)),
                    "epochs": log.eval.config.epochs or 1,
                    "temperature": config.temperature if config is not None else None,
                    "task_args": dict(log.eval.task_args or {}),
                    "samples": len(samples),
                    "errors": sum(1 for sample in samples if sample.error is not None),
                    "kept": sum(1 for sample, origin in run.samples if origin is log),
                    "expected": _expected(log),
                    "error": log.error.message if log.error is not None else None,
                }
            )
    return pd.DataFrame(rows)


def _expected(log: EvalLog) -> int:
    """Samples the run was asked for: the dataset (or its ``--limit``) times the epochs."""
    size = log.eval.dataset.samples or 0
    limit = log.eval.config.limit
    if isinstance(limit, int):
        size = min(size, limit)
    elif isinstance(limit, tuple):
        size = min(size, max(0, limit[1] - limit[0]))
    return size * (log.eval.config.epochs or 1)


def study_of(log: EvalLog) -> str:
    """The study id of a log: its task name without the ``characterlab/`` prefix."""
    return log.eval.task.removeprefix(_TASK_PREFIX)


@dataclass(frozen=True)
class _LogicalRun:
    """A run and its resumptions: the logs, newest first, and each kept sample with the log it came from."""

    path: str
    logs: list[EvalLog]
    samples: list[tuple[EvalSample, EvalLog]]


def _logical_runs(logs: Sequence[EvalLog]) -> list[_LogicalRun]:
    groups: dict[str, list[EvalLog]] = {}
    for log in logs:
        groups.setdefault(_fingerprint(log), []).append(log)
    runs = []
    for members in groups.values():
        newest_first = sorted(members, key=_created, reverse=True)
        successful = [log for log in newest_first if log.status == "success"]
        path = _location((successful or newest_first)[0])
        kept: dict[tuple[str, int], tuple[EvalSample, EvalLog]] = {}
        for log in newest_first:
            for sample in log.samples or []:
                key = (str(sample.id), sample.epoch)
                held = kept.get(key)
                # Newest first: a later copy replaces a held one only when it finished and the held one did not.
                if held is None or (held[0].error is not None and sample.error is None):
                    kept[key] = (sample, log)
        runs.append(_LogicalRun(path=path, logs=newest_first, samples=list(kept.values())))
    # Oldest run first, the order a reader expects ("before" then "after").
    return sorted(runs, key=lambda run: _created(run.logs[-1]))


def _fingerprint(log: EvalLog) -> str:
    spec = log.eval
    return json.dumps(
        [spec.task, spec.model, spec.model_args, spec.task_args, _characterlab_metadata(log)],
        sort_keys=True,
        default=str,
    )


def _score_rows(run: _LogicalRun) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    metrics_of_run: dict[str, str] = {}  # metric → scorer, to give errored samples a NaN row per metric
    scored: list[tuple[EvalSample, EvalLog, list[tuple[str, str, float, str | None]]]] = []
    for sample, log in run.samples:
        values = _sample_values(sample, log)
        for scorer, metric, _, _ in values:
            metrics_of_run.setdefault(metric, scorer)
        scored.append((sample, log, values))
    for sample, log, values in scored:
        meta = _characterlab_metadata(log)
        metadata = sample.metadata or {}
        error = sample.error.message if sample.error is not None else None
        if error is not None and not values:
            values = [(scorer, metric, math.nan, None) for metric, scorer in metrics_of_run.items()]
            values = values or [("", "", math.nan, None)]
        sample_id = str(sample.id)
        head = (run.path, log.eval.eval_id, study_of(log), _model_label(log), meta.get("character"), sample_id)
        grouping = (
            sample.epoch,
            _text(metadata.get("group")),
            _text(metadata.get("condition")),
            _text(metadata.get("item")) or sample_id,
        )
        location = _location(log)
        rows.extend(
            (*head, *grouping, metric or None, value, error, location, scorer or None, method)
            for scorer, metric, value, method in values
        )
    return rows


def _sample_values(sample: EvalSample, log: EvalLog) -> list[tuple[str, str, float, str | None]]:
    """(scorer, metric, value, method) of every measurement of a sample."""
    scores = sample.scores or {}
    # With one scorer (the study's own), its keys are the metric names; a log rescored with several scorers
    # prefixes the others' keys so that two scorers' "judge" never mix.
    study = study_of(log)
    plain = len(scores) == 1
    values: list[tuple[str, str, float, str | None]] = []
    for scorer, score in scores.items():
        prefix = "" if plain or scorer == study else f"{scorer}."
        method = (score.metadata or {}).get("method")
        method = method if isinstance(method, str) else None
        value = score.value
        if isinstance(value, Mapping):
            values.extend((scorer, f"{prefix}{key}", _number(item), method) for key, item in value.items())
        elif isinstance(value, list):
            values.extend(
                (scorer, f"{prefix}{scorer}[{index}]", _number(item), method) for index, item in enumerate(value)
            )
        else:
            values.append((scorer, f"{prefix}{scorer}" if prefix else scorer, _number(value), method))
    return values


def _number(value: object) -> float:
    """A score value as a float; anything that is not a number is a missing measurement (NaN), never 0."""
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, str):
        if value in _GRADES:
            return _GRADES[value]
        try:
            return float(value)
        except ValueError:
            return math.nan
    return math.nan


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _characterlab_metadata(log: EvalLog) -> dict[str, Any]:
    meta = (log.eval.metadata or {}).get("characterlab")
    return dict(meta) if isinstance(meta, Mapping) else {}


def _created(log: EvalLog) -> datetime:
    created = datetime.fromisoformat(log.eval.created)
    # Inspect writes an offset; a hand-made log without one is taken as UTC so that the two still compare.
    return created if created.tzinfo is not None else created.replace(tzinfo=UTC)


def _location(log: EvalLog) -> str:
    location = log.location or ""
    return _path_of(location) if location.startswith("file://") else location


def _path_of(uri: str) -> str:
    return unquote(urlparse(uri).path)


def log_files(folder: Path) -> list[Path]:
    """The Inspect log files (``.eval`` and ``.json``) in ``folder`` and its subfolders, oldest first, as paths."""
    infos = list_eval_logs(str(folder), recursive=True, descending=False)
    return [Path(_path_of(info.name)) if info.name.startswith("file://") else Path(info.name) for info in infos]


def _read_one(path: Path) -> EvalLog:
    try:
        log = read_eval_log(str(path))
    except (ValueError, OSError, KeyError, BadZipFile) as error:
        # pydantic's ValidationError is a ValueError: a JSON file that is not a log lands here too.
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CharacterlabError(f"{path}: not a readable Inspect log ({first_line})") from error
    log.location = str(path)
    return log
