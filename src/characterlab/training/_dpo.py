"""DPO with a LoRA adapter, through TRL and PEFT: the step that puts a character into the student's weights.

Nothing here reimplements training: TRL's ``DPOTrainer`` runs the loop (and, under ``accelerate launch``, its own
multi-GPU path); this module turns preference pairs into its dataset in the student's own prompt frame, keeps
checkpoints so that a stopped run resumes, and saves the loss and reward-margin curves.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from characterlab.errors import CharacterlabError
from characterlab.stage import FrameMessage, render_transcript_from_messages
from characterlab.training._records import PreferencePair
from characterlab.training._trainer_runs import resume_point, trainer_args

if TYPE_CHECKING:
    from characterlab.models import LoadedModel

__all__ = ["DpoResult", "DpoSettings", "dpo_rows", "student_prompt", "train_dpo"]

CURVE_FIELDS = ("step", "epoch", "loss", "rewards/margins", "rewards/accuracies", "rewards/chosen", "rewards/rejected")
"""The columns of ``curves.csv``: TRL's logged DPO metrics, one row per logged step."""


class DpoSettings(BaseModel):
    """The knobs of the DPO step (TRL's ``DPOConfig`` and PEFT's ``LoraConfig``, with defaults for small runs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    beta: Annotated[float, Field(gt=0)] = 0.1
    """Strength of the pull towards the reference (the student without the adapter)."""
    learning_rate: Annotated[float, Field(gt=0)] = 5e-5
    epochs: Annotated[float, Field(gt=0)] = 1.0
    rank: Annotated[int, Field(ge=1)] = 16
    """LoRA rank."""
    lora_alpha: Annotated[int, Field(ge=1)] = 32
    lora_dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0
    target_modules: list[str] | Literal["all-linear"] = "all-linear"
    """The modules LoRA adapts: names such as ``q_proj``, or every linear layer but the output head."""
    batch_size: Annotated[int, Field(ge=1)] = 4
    """Pairs per device per step."""
    gradient_accumulation_steps: Annotated[int, Field(ge=1)] = 1
    max_length: Annotated[int, Field(ge=16)] = 1024
    """Longest prompt + reply in tokens; longer ones are cut (the start of the prompt is kept)."""
    warmup_ratio: Annotated[float, Field(ge=0, lt=1)] = 0.1
    gradient_checkpointing: bool = True
    """Recompute activations in the backward pass (TRL's default): less memory for large models, a slower step."""
    save_steps: Annotated[int, Field(ge=1)] = 25
    """A checkpoint every this many steps (the run resumes from the last one)."""
    seed: int = 0


@dataclass(frozen=True)
class DpoResult:
    """What a DPO run left behind.

    Attributes:
        adapter: The LoRA adapter folder.
        steps: Optimiser steps taken (in all sessions of a resumed run).
        curves: ``curves.csv``, the logged metrics per step.
        figure: ``curves.png``, loss and reward margin against the step.
        seconds: Wall time of this session's training.
        peak_memory_bytes: Peak GPU memory of this session, or ``None`` on a CPU.
        resumed_from: The checkpoint this session started from, if any.
    """

    adapter: Path
    steps: int
    curves: Path
    figure: Path
    seconds: float
    peak_memory_bytes: int | None
    resumed_from: str | None


def student_prompt(loaded: LoadedModel, conversation: str | Sequence[FrameMessage]) -> str:
    """The exact text the student reads for a user message (or a conversation ending with one), as the local
    provider frames it (chat template, or the transcript frame for a base model), ending where its reply begins.

    A BOS token the tokenizer adds by itself is left out of the text (TRL tokenizes the text with it).
    """
    messages = [FrameMessage(role="user", content=conversation)] if isinstance(conversation, str) else conversation
    if loaded.has_chat_template:
        rendered = str(
            loaded.tokenizer.apply_chat_template(
                [m.model_dump() for m in messages], add_generation_prompt=True, tokenize=False
            )
        )
    else:
        rendered = render_transcript_from_messages(list(messages), char="Assistant", user="User").prompt
    tokenizer = loaded.tokenizer
    bos = tokenizer.bos_token
    # TRL tokenizes plain text with the tokenizer's special tokens; a template that writes the BOS token itself
    # would then start every row with two.
    if bos and rendered.startswith(bos) and tokenizer("x")["input_ids"][:1] == [tokenizer.bos_token_id]:
        rendered = rendered[len(bos) :]
    return rendered


def dpo_rows(loaded: LoadedModel, pairs: Sequence[PreferencePair]) -> list[dict[str, str]]:
    """TRL's plain-text preference rows (``prompt``/``chosen``/``rejected``), in the student's prompt frame.

    The prompt is rendered here rather than by TRL so that training sees exactly the text the student reads when
    it is staged later; TRL ends each reply with the EOS token.
    """
    return [
        {"prompt": student_prompt(loaded, pair.prompt), "chosen": pair.chosen, "rejected": pair.rejected}
        for pair in pairs
    ]


def train_dpo(
    loaded: LoadedModel,
    rows: Sequence[dict[str, str]],
    out: Path,
    settings: DpoSettings = DpoSettings(),  # noqa: B008 - frozen model, never mutated
    *,
    resume: bool = True,
    progress: bool = True,
) -> DpoResult:
    """Train a LoRA adapter on the student with DPO, keeping checkpoints; resume from the last one if there is one.

    Args:
        loaded: The student, as :func:`characterlab.models.load_model` gave it (without an adapter). Its base
            weights are not trained: the adapter is, and the reference is the student with it disabled. The LoRA
            layers are put into ``loaded.model`` itself, though: load the student again to use it untrained.
        rows: Preference rows from :func:`dpo_rows`.
        out: The stage's folder: ``checkpoints/``, ``adapter/``, ``curves.csv``, ``curves.png``.
        settings: DPO and LoRA settings.
        resume: Continue from the last checkpoint in ``out/checkpoints`` when there is one.
        progress: Show TRL's progress bar.

    Raises:
        CharacterlabError: no rows, or a student that already carries an adapter (loaded with one, or trained in
            place by an earlier call).
    """
    if not rows:
        raise CharacterlabError("DPO needs at least one preference pair; the judge kept none (see verdicts.jsonl)")
    if loaded.adapter is not None or any("lora_" in name for name, _ in loaded.model.named_modules()):
        raise CharacterlabError(
            f"the student {loaded.name} already carries an adapter (loaded with one, or trained in place before); "
            "load its base model again and train that"
        )
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from trl import DPOConfig, DPOTrainer

    checkpoints = out / "checkpoints"
    cuda = loaded.device.type == "cuda"
    config = DPOConfig(
        beta=settings.beta,
        learning_rate=settings.learning_rate,
        num_train_epochs=settings.epochs,
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        max_length=settings.max_length,
        warmup_steps=settings.warmup_ratio,  # a float in [0, 1) is a fraction of the steps
        gradient_checkpointing=settings.gradient_checkpointing,
        data_seed=settings.seed,
        **trainer_args(loaded, checkpoints, progress=progress, seed=settings.seed, save_steps=settings.save_steps),
    )
    lora = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules=settings.target_modules,
        task_type="CAUSAL_LM",
    )
    model: Any = loaded.model
    trainer = DPOTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(list(rows)),
        processing_class=loaded.tokenizer,
        peft_config=lora,
    )
    last = resume_point(trainer, checkpoints, progress=progress, resume=resume)
    if cuda:
        torch.cuda.reset_peak_memory_stats(loaded.device)
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=last)
    seconds = time.perf_counter() - started
    adapter = out / "adapter"
    trained_model: Any = trainer.model
    trained_model.save_pretrained(str(adapter))
    curves, figure = _save_curves(trainer.state.log_history, out)
    (out / "trainer_state.json").write_text(json.dumps(trainer.state.log_history, indent=1), encoding="utf-8")
    return DpoResult(
        adapter=adapter,
        steps=int(trainer.state.global_step),
        curves=curves,
        figure=figure,
        seconds=seconds,
        peak_memory_bytes=int(torch.cuda.max_memory_allocated(loaded.device)) if cuda else None,
        resumed_from=last,
    )


def _save_curves(history: list[dict[str, Any]], out: Path) -> tuple[Path, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [entry for entry in history if "loss" in entry and "step" in entry]
    curves = out / "curves.csv"
    with curves.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CURVE_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    figure = out / "curves.png"
    fig, (loss_axis, margin_axis) = plt.subplots(1, 2, figsize=(9, 3.2), constrained_layout=True)
    steps = [row["step"] for row in rows]
    loss_axis.plot(steps, [row["loss"] for row in rows], marker=".", color="#3b6ea5")
    loss_axis.axhline(0.6931, color="#999999", linewidth=0.8, linestyle="--", label="ln 2 (no preference)")
    loss_axis.set(xlabel="step", ylabel="DPO loss", title="Loss")
    loss_axis.legend(frameon=False, fontsize=8)
    margin_axis.plot(steps, [row.get("rewards/margins", float("nan")) for row in rows], marker=".", color="#b5562a")
    margin_axis.axhline(0.0, color="#999999", linewidth=0.8, linestyle="--")
    margin_axis.set(xlabel="step", ylabel="chosen − rejected reward", title="Reward margin")
    fig.savefig(figure, dpi=120)
    plt.close(fig)
    return curves, figure
