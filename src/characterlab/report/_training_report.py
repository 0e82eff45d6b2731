"""The before/after page of a training bundle: what was trained on, what training did, and whether the
character is there without its prompt, on prompts like the training ones and in contexts training never saw.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

from characterlab import __version__
from characterlab.report._environment import report_environment

__all__ = ["build_training_report", "write_training_report"]

_EXAMPLES = 4
_CONDITION_LABELS = {
    "untrained": "untrained, no prompt",
    "prompted": "untrained, prompted with the character",
    "trained": "trained, no prompt",
}


def build_training_report(bundle: Path) -> str:
    """Render a bundle's report page (self-contained: the figures are inlined).

    Args:
        bundle: The bundle folder written by ``characterlab train``.
    """
    from characterlab.training import (
        EvaluationReply,
        IntrospectionSample,
        PairVerdict,
        PreferencePair,
        read_bundle,
        read_records,
    )

    manifest = read_bundle(bundle)
    config = json.loads((bundle / "config.json").read_text(encoding="utf-8"))
    metrics = json.loads((bundle / "metrics.json").read_text(encoding="utf-8"))
    pairs = {pair.prompt_id: pair for pair in read_records(bundle / "data" / "pairs.jsonl", PreferencePair)}
    verdicts = read_records(bundle / "data" / "verdicts.jsonl", PairVerdict)
    replies = read_records(bundle / "evaluation" / "replies.jsonl", EvaluationReply)
    samples = read_records(bundle / "data" / "introspection.jsonl", IntrospectionSample)
    curves = bundle / "dpo" / "curves.png"
    summaries = metrics["evaluation"]["summaries"]
    return (
        report_environment()
        .get_template("training_report.html.j2")
        .render(
            version=__version__,
            title=f"Training {manifest.character} into {manifest.base_model}",
            manifest=manifest,
            config=config,
            metrics=metrics,
            margins=metrics["margins"],
            curves=_data_uri(curves.read_bytes()) if curves.is_file() else None,
            evaluation_figure=_evaluation_figure(summaries) if summaries else None,
            summaries=summaries,
            comparisons=metrics["evaluation"]["comparisons"],
            labels=_CONDITION_LABELS,
            kept_examples=[(pairs[v.prompt_id], v) for v in verdicts if v.kept and v.prompt_id in pairs][:_EXAMPLES],
            dropped_examples=[(pairs[v.prompt_id], v) for v in verdicts if not v.kept and v.prompt_id in pairs][
                :_EXAMPLES
            ],
            reply_examples=_reply_examples(replies),
            introspection_examples=[s for s in samples if s.kept][:2],
            bundle_name=bundle.name,
            studies=(bundle / "evaluation" / "studies.html").is_file(),
        )
    )


def write_training_report(bundle: Path) -> Path:
    """Write ``report.html`` into the bundle and return its path."""
    path = bundle / "report.html"
    path.write_text(build_training_report(bundle), encoding="utf-8")
    return path


def _reply_examples(replies: list[Any]) -> list[dict[str, Any]]:
    by_prompt: dict[str, dict[str, Any]] = {}
    for reply in replies:
        entry = by_prompt.setdefault(
            reply.prompt_id, {"set": reply.set, "kind": reply.kind, "prompt": reply.prompt, "replies": {}}
        )
        entry["replies"][reply.condition] = reply
    chosen: list[dict[str, Any]] = []
    for wanted in ("like training", "unseen contexts"):
        chosen += [entry for entry in by_prompt.values() if entry["set"] == wanted][:2]
    return chosen


def _evaluation_figure(summaries: list[dict[str, Any]]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [s for s in summaries if s["measure"] == "character_contrast"]
    sets = list(dict.fromkeys(s["set"] for s in rows))
    conditions = [c for c in _CONDITION_LABELS if any(s["condition"] == c for s in rows)]
    colours = {"untrained": "#8c959f", "prompted": "#3b5bdb", "trained": "#b5562a"}
    fig, axis = plt.subplots(figsize=(7.5, 2.9), constrained_layout=True)
    width = 0.8 / max(len(conditions), 1)
    for offset, condition in enumerate(conditions):
        for index, prompt_set in enumerate(sets):
            found = [s for s in rows if s["set"] == prompt_set and s["condition"] == condition]
            if not found:
                continue
            s = found[0]
            x = index + (offset - (len(conditions) - 1) / 2) * width
            axis.bar(
                x,
                s["mean"],
                width * 0.9,
                color=colours[condition],
                label=_CONDITION_LABELS[condition] if index == 0 else None,
            )
            axis.errorbar(
                x,
                s["mean"],
                yerr=[[s["mean"] - s["low"]], [s["high"] - s["mean"]]],
                color="#1f2328",
                capsize=3,
                linewidth=1,
            )
    axis.axhline(0.0, color="#999999", linewidth=0.8)
    axis.set_xticks(range(len(sets)), [f"{name}\n(n = {_n(rows, name)})" for name in sets])
    axis.set_ylabel("character contrast")
    axis.legend(frameon=False, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    return _data_uri(buffer.getvalue())


def _n(rows: list[dict[str, Any]], prompt_set: str) -> int:
    return max((s["n"] for s in rows if s["set"] == prompt_set), default=0)


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
