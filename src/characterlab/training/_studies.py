"""The studies, before and after: ``trait_expression``, ``hold_character`` and (with persona data)
``persona_statements`` on the untrained student, the student prompted with the character, and the trained student
without its prompt, through Inspect eval sets that resume, into a study report.

The conditions come from the studies' own designs: ``trait_expression`` and ``persona_statements`` (with
``baseline``) measure the staged character against the bare model in one run, so on the untrained student they
give both (a) and (b), and on the trained student their bare side is (c). ``hold_character`` runs staged on the
untrained student (b) and unstaged on the trained one (c), which must hold the character with nothing telling it
to.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from characterlab.errors import CharacterlabError

__all__ = ["run_studies"]


def run_studies(
    bundle: Path,
    *,
    student: str,
    judge: str | None,
    persona_data: Path | None = None,
    behaviours: Sequence[str] = (),
    holds_by: Literal["judge", "embedding"] = "embedding",
    max_tokens: int = 64,
    seed: int = 0,
    display: str = "none",
) -> Path:
    """Run the before/after studies on a finished bundle and write ``evaluation/studies.html``.

    Args:
        bundle: The training bundle (its character file and adapter are used).
        student: The untrained student (``characterlab/...``).
        judge: The trait judge of ``trait_expression`` and (``holds_by=judge``) of ``hold_character``; ``None``
            for judge-free measures only.
        persona_data: The persona folder of the model-written evaluations, for ``persona_statements``.
        behaviours: The persona behaviours to ask (required with ``persona_data``).
        holds_by: How ``hold_character`` decides that the character holds.
        max_tokens: Longest reply.
        seed: Seed of the replies.
        display: Inspect's display.

    Returns:
        The study report's path.

    Raises:
        CharacterlabError: a run failed (run again to resume it), or persona data without behaviours.
    """
    from inspect_ai import eval_set, task_with

    from characterlab.dialogue import inspect_model
    from characterlab.report import write_study_report
    from characterlab.studies import STUDIES

    if persona_data is not None and not behaviours:
        raise CharacterlabError("persona_statements needs the behaviours to ask: give them with the persona data")
    character = str(bundle / "character.character.yaml")
    reply: dict[str, Any] = {"max_tokens": max_tokens, "temperature": 0.7, "seed": seed}
    judged: dict[str, Any] = {"judge": judge} if judge else {"use_judge": False}
    holding: dict[str, Any] = {"holds_by": holds_by, "max_tokens": max_tokens, "seed": seed}
    if holds_by == "judge" and judge:
        holding["judge"] = judge
    plans: dict[str, list[tuple[str, dict[str, Any]]]] = {
        "untrained": [
            ("trait_expression", {"character": character, "generated_probes": 0} | judged | reply),
            ("hold_character", {"character": character} | holding),
        ],
        "trained": [
            ("trait_expression", {"character": character, "generated_probes": 0} | judged | reply),
            ("hold_character", {"character": character, "staged": False, "default_voice_model": student} | holding),
        ],
    }
    if persona_data is not None:
        persona = {"data": str(persona_data), "behaviours": list(behaviours), "seed": seed, "n_per_behaviour": 50}
        plans["untrained"].append(("persona_statements", {"character": character, "baseline": True} | persona))
        plans["trained"].append(("persona_statements", {"frame": "chat"} | persona))
    models = {"untrained": inspect_model(student), "trained": inspect_model(student, {"adapter": str(bundle)})}
    logs = []
    # One model at a time: two local models computing at once only share the same cores.
    for condition, plan in plans.items():
        tasks = [task_with(STUDIES[study](**args), model=models[condition]) for study, args in plan]
        _, condition_logs = eval_set(
            tasks,
            log_dir=str(bundle / "evaluation" / "runs" / condition),
            retry_attempts=1,
            retry_wait=1,
            log_dir_allow_dirty=True,
            max_connections=16,
            log_buffer=1,
            display=display,  # type: ignore[arg-type]
        )
        logs.extend(condition_logs)
    failed = [log for log in logs if log.status != "success"]
    if failed:
        names = ", ".join(log.eval.task for log in failed)
        raise CharacterlabError(f"before/after studies failed ({names}); run again to resume them")
    return write_study_report(
        [log.location for log in logs], bundle / "evaluation" / "studies.html", title="Before and after: the studies"
    )
