"""Drift: where each reply of a run sits along a direction (a trait vector, a character axis), turn by turn.

A run on a local model with ``-M activation_layers=...`` logs the hidden state of every reply (the mean over its
tokens with ``activation_reduction=mean_response``). Projected on a direction, those states say how much each
reply leans towards the trait or the character; over the turns of a conversation they show drift. Only replies
count: calls from a scorer, or from a model role other than the default voice (a judge, a probe writer), are
left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from inspect_ai.log import EvalSample

from characterlab.analysis._statistics import bootstrap_mean
from characterlab.analysis._tables import LogSource, _location, read_logs, study_of

__all__ = ["DEFAULT_VOICE", "DRIFT_COLUMNS", "drift_curves", "drift_table"]

_REPLY_ROLES = (None, "default_voice")
"""Model roles whose calls are replies in the conversation: the model under study, and the default voice it is
compared with (``hold_character``); a judge's or a probe writer's calls are not."""

DEFAULT_VOICE = "default voice"
"""The series of the bare model's replies inside a staged sample."""

DRIFT_COLUMNS = ("run", "study", "series", "sample_id", "epoch", "turn", "layer", "projection")
"""The columns of :func:`drift_table`, in order."""


def drift_table(logs: LogSource | Iterable[LogSource], directions: Mapping[int, npt.ArrayLike]) -> pd.DataFrame:
    """Project every logged reply state of the model under study on a direction per layer.

    Args:
        logs: Inspect logs (files, folders or logs read) of runs made with ``activation_layers``.
        directions: Layer → direction; a reply's projection is ``state · v / |v|``. Layers the logs did not
            record are left out.

    Returns:
        One row per (reply, layer) with :data:`DRIFT_COLUMNS`. ``series`` is what the reply is compared across:
        the speaker of a dialogue turn, else the sample's condition (``character``, ``baseline``, …), or
        :data:`DEFAULT_VOICE` for a reply made without a system prompt inside a staged sample (the bare model's
        replies that ``hold_character`` compares with). ``turn`` is the dialogue turn, or the number of user
        messages the reply answers.
    """
    vectors = {int(layer): np.asarray(vector, dtype=np.float64) for layer, vector in directions.items()}
    units = {layer: vector / (np.linalg.norm(vector) or 1.0) for layer, vector in vectors.items()}
    rows: list[dict[str, Any]] = []
    for log in read_logs(logs):
        run = {"run": _location(log), "study": study_of(log)}
        for sample in log.samples or []:
            rows.extend(run | row for row in _sample_rows(sample, units))
    return pd.DataFrame(rows, columns=list(DRIFT_COLUMNS))


def drift_curves(table: pd.DataFrame, layer: int) -> dict[str, pd.DataFrame]:
    """The mean projection per turn with a bootstrap interval over samples, one curve per series, at one layer.

    Returns:
        Series → a frame with ``turn``, ``mean``, ``low``, ``high``, ``n`` (what ``turn_curve_plot`` draws).
    """
    curves: dict[str, pd.DataFrame] = {}
    at_layer = table[table["layer"] == layer]
    for series, group in at_layer.groupby("series", sort=False):
        points = []
        for turn, values in group.groupby("turn", sort=True):
            estimate = bootstrap_mean(values["projection"].to_numpy(dtype=float))
            points.append(
                {
                    "turn": int(str(turn)),
                    "mean": estimate.mean,
                    "low": estimate.low,
                    "high": estimate.high,
                    "n": estimate.n,
                }
            )
        curves[str(series)] = pd.DataFrame(points, columns=["turn", "mean", "low", "high", "n"])
    return curves


def _sample_rows(sample: EvalSample, units: Mapping[int, np.ndarray[Any, Any]]) -> list[dict[str, Any]]:
    """A sample's rows, without their run's columns."""
    span_types = {event.id: (event.type, event.parent_id) for event in sample.events if event.event == "span_begin"}
    turns = sample.store.get("turns") if isinstance(sample.store, dict) else None
    condition = str((sample.metadata or {}).get("condition") or "model")
    replies = [
        event
        for event in sample.events
        if event.event == "model"
        and event.role in _REPLY_ROLES
        and _in_solvers(event.span_id, span_types)
        and (event.output.metadata or {}).get("activations")
    ]
    # In a staged sample, a reply asked without the system prompt is the bare model's (a default voice).
    staged_sample = any(_staged(event.input) for event in replies)
    rows = []
    for event in replies:
        activations = (event.output.metadata or {})["activations"]
        series, turn = _place(event.input, event.output.completion.strip(), turns, condition)
        if staged_sample and not _staged(event.input) and not isinstance(turns, list):
            series = DEFAULT_VOICE
        for key, values in (activations.get("values") or {}).items():
            layer = int(key)
            if layer not in units:
                continue
            state = np.asarray(values, dtype=np.float64)
            if state.ndim > 1:  # ``all_tokens``: one state per position
                state = state.mean(axis=0)
            rows.append(
                {
                    "series": series,
                    "sample_id": str(sample.id),
                    "epoch": sample.epoch,
                    "turn": turn,
                    "layer": layer,
                    "projection": float(state @ units[layer]),
                }
            )
    return rows


def _in_solvers(span_id: str | None, spans: Mapping[str, tuple[str | None, str | None]]) -> bool:
    while span_id is not None and span_id in spans:
        kind, parent = spans[span_id]
        if kind in ("scorers", "scorer"):
            return False
        if kind == "solvers":
            return True
        span_id = parent
    return span_id is None  # logs without spans: everything counts


def _staged(messages: list[Any]) -> bool:
    return bool(messages) and messages[0].role == "system"


def _place(messages: list[Any], reply: str, turns: object, condition: str) -> tuple[str, int]:
    if isinstance(turns, list):
        # A dialogue: the turn whose text is this reply names its speaker and its place.
        for index, turn in enumerate(turns, start=1):
            if isinstance(turn, dict) and str(turn.get("text", "")).strip() == reply:
                return str(turn.get("speaker", condition)), index
    return condition, max(sum(message.role == "user" for message in messages), 1)
