"""Supervised fine-tuning of the DPO adapter on the introspection data, through TRL's ``SFTTrainer``.

Each assistant reply of a kept sample is one prompt-completion row: the conversation before it, framed as the
student reads it, and the reply; the loss is on the reply only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from characterlab.errors import CharacterlabError
from characterlab.stage import FrameMessage
from characterlab.training._dpo import student_prompt
from characterlab.training._introspection import IntrospectionSettings
from characterlab.training._records import IntrospectionSample
from characterlab.training._trainer_runs import resume_point, trainer_args

if TYPE_CHECKING:
    from characterlab.models import LoadedModel

__all__ = ["sft_rows", "train_sft"]


def sft_rows(loaded: LoadedModel, samples: Sequence[IntrospectionSample]) -> list[dict[str, str]]:
    """Prompt-completion rows for every assistant reply of the kept samples, in the student's prompt frame."""
    rows = []
    for sample in samples:
        if not sample.kept:
            continue
        for index, message in enumerate(sample.messages):
            if message["role"] != "assistant" or index == 0:
                continue
            before = [FrameMessage(role=m["role"], content=m["content"]) for m in sample.messages[:index]]
            rows.append({"prompt": student_prompt(loaded, before), "completion": message["content"]})
    return rows


def train_sft(
    loaded: LoadedModel,
    adapter: Path,
    rows: Sequence[dict[str, str]],
    out: Path,
    settings: IntrospectionSettings,
    *,
    seed: int = 0,
    resume: bool = True,
    progress: bool = True,
) -> Path:
    """Continue training a LoRA adapter with SFT on ``rows``; returns the new adapter folder (``out/adapter``).

    Args:
        loaded: The student without an adapter (a fresh load: DPO changes the model it trains in place).
        adapter: The DPO adapter to continue from.
        rows: Rows from :func:`sft_rows`.
        out: The stage's folder (``checkpoints/``, ``adapter/``).
        settings: Learning rate, epochs, batch size, longest row.
        seed: Training seed.
        resume: Continue from the last checkpoint in ``out/checkpoints``.
        progress: Show TRL's progress bar.

    Raises:
        CharacterlabError: no rows (every introspection sample was filtered out).
    """
    if not rows:
        raise CharacterlabError("introspection kept no sample to fine-tune on (see data/introspection.jsonl)")
    from datasets import Dataset
    from peft import PeftModel
    from trl import SFTConfig, SFTTrainer

    checkpoints = out / "checkpoints"
    model: Any = PeftModel.from_pretrained(loaded.model, str(adapter), is_trainable=True)
    config = SFTConfig(
        learning_rate=settings.learning_rate,
        num_train_epochs=settings.epochs,
        per_device_train_batch_size=settings.batch_size,
        max_length=settings.max_length,
        completion_only_loss=True,
        gradient_checkpointing=settings.gradient_checkpointing,
        **trainer_args(loaded, checkpoints, progress=progress, seed=seed, save_steps=25),
    )
    trainer = SFTTrainer(
        model=model, args=config, train_dataset=Dataset.from_list(list(rows)), processing_class=loaded.tokenizer
    )
    last = resume_point(trainer, checkpoints, progress=progress, resume=resume)
    trainer.train(resume_from_checkpoint=last)
    trained = out / "adapter"
    trained_model: Any = trainer.model
    trained_model.save_pretrained(str(trained))
    return trained
