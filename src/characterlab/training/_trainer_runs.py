"""What the DPO and SFT stages share: a TRL run that logs every step, keeps checkpoints, resumes from the last
one, and stays quiet when asked."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from characterlab.models import LoadedModel

__all__ = ["resume_point", "trainer_args"]


def trainer_args(
    loaded: LoadedModel, checkpoints: Path, *, progress: bool, seed: int, save_steps: int
) -> dict[str, Any]:
    """The TRL config arguments every stage passes (creating ``checkpoints``): logging, checkpoints, seed, device.

    Without progress bars, the datasets library's bars are switched off too (before the trainer maps the data).
    """
    import torch

    checkpoints.mkdir(parents=True, exist_ok=True)
    if not progress:
        import datasets

        datasets.disable_progress_bars()
    cuda = loaded.device.type == "cuda"
    return {
        "output_dir": str(checkpoints),
        "logging_steps": 1,
        "save_strategy": "steps",
        "save_steps": save_steps,
        "save_total_limit": 2,
        "seed": seed,
        "report_to": [],
        "disable_tqdm": not progress,
        "bf16": cuda and loaded.dtype == torch.bfloat16,
        "use_cpu": not cuda,
    }


def resume_point(trainer: Any, checkpoints: Path, *, progress: bool, resume: bool) -> str | None:
    """The checkpoint to resume from (``None``: start over); without progress bars, the trainer prints no
    per-step dicts either (its stand-in for the bar)."""
    from transformers import PrinterCallback
    from transformers.trainer_utils import get_last_checkpoint

    if not progress:
        trainer.remove_callback(PrinterCallback)
    return get_last_checkpoint(str(checkpoints)) if resume else None  # type: ignore[no-untyped-call]
