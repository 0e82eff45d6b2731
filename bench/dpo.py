"""DPO step throughput: the pipeline's ``train_dpo`` vs a plain TRL script on the same pairs and settings.

Both sides train a LoRA adapter with TRL's ``DPOTrainer`` on the same preference rows (in the student's prompt
frame), each from a fresh load of the same weights, with the same DPO and LoRA settings and seed. Only
``trainer.train()`` is timed, not loading the model or building the trainer; throughput is optimiser steps per
second. The target is no overhead of ours: at least 0.95x the plain script's steps/s.

Peak memory is reported for both sides: CUDA's peak allocation on a GPU; on a CPU the peak growth of the process's
resident memory while the trainer is built and run.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import resource
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import torch

from bench._report import Ratio, report
from bench.generation import QUESTIONS
from characterlab.models import LoadedModel, load_model
from characterlab.training import DpoSettings, PreferencePair, dpo_rows, train_dpo

MIB = 1024 * 1024
MIRRORED_SETTINGS = frozenset(
    {
        "beta",
        "learning_rate",
        "epochs",
        "rank",
        "lora_alpha",
        "lora_dropout",
        "target_modules",
        "batch_size",
        "gradient_accumulation_steps",
        "max_length",
        "warmup_ratio",
        "gradient_checkpointing",
        "save_steps",
        "seed",
    }
)
"""The ``DpoSettings`` fields the plain script accounts for: each passed to TRL or PEFT as ours passes it, except
``save_steps`` (a plain script writes no checkpoints)."""

_CHEERFUL_OPENERS = [
    "Oh, what a wonderful question!",
    "I love that you asked this!",
    "What fun, let's dig into it together!",
    "Great question, and such a happy one to answer!",
    "How lovely to think about this today!",
]
_CHEERFUL_BODIES = [
    "The short answer is that it comes down to a few simple ideas, and each one is a small delight once you "
    "see how neatly they fit together.",
    "People have wondered about this for ages, and the explanation is charming: small causes add up, step by "
    "step, into something rather marvellous.",
    "Picture it like a friendly little machine where every part helps the next, and suddenly the whole thing "
    "makes perfect, cheerful sense.",
    "There is a bright and tidy answer here, and I think you will enjoy how much it explains with so little.",
]
_CHEERFUL_CLOSERS = [
    "I hope that brightens your day a little!",
    "Have a wonderful time exploring it further!",
    "Thanks for such a fun question, truly!",
]
_FLAT_OPENERS = [
    "Here is the answer.",
    "This is a common question.",
    "The answer is as follows.",
    "Noted.",
    "Understood.",
]
_FLAT_BODIES = [
    "It comes down to a few ideas. They fit together in the usual way, and the details depend on the case and on "
    "the sources used.",
    "This has been studied before. Several factors are involved, and they combine to produce the observed result "
    "in most situations.",
    "The process has a number of parts. Each part affects the next, and the overall outcome follows from that "
    "sequence of steps.",
    "There is a standard explanation. It covers the main points, although some details vary between accounts.",
]
_FLAT_CLOSERS = [
    "That is all.",
    "No further information is needed.",
    "Refer to a reference work for more.",
]


def preference_pairs(count: int) -> list[PreferencePair]:
    """Deterministic synthetic pairs: a cheerful chosen reply and a flat rejected one to varied prompts.

    The openers, bodies and closers cycle with coprime periods (5, 4, 3), so the first 60 pairs all differ.
    """
    pairs = []
    for i in range(count):
        prompt = QUESTIONS[i % len(QUESTIONS)] + ("" if i < len(QUESTIONS) else f" ({i})")
        chosen = " ".join(
            (
                _CHEERFUL_OPENERS[i % len(_CHEERFUL_OPENERS)],
                _CHEERFUL_BODIES[i % len(_CHEERFUL_BODIES)],
                _CHEERFUL_CLOSERS[i % len(_CHEERFUL_CLOSERS)],
            )
        )
        rejected = " ".join(
            (
                _FLAT_OPENERS[i % len(_FLAT_OPENERS)],
                _FLAT_BODIES[i % len(_FLAT_BODIES)],
                _FLAT_CLOSERS[i % len(_FLAT_CLOSERS)],
            )
        )
        pairs.append(
            PreferencePair(
                prompt_id=f"p{i}",
                prompt=prompt,
                chosen=chosen,
                rejected=rejected,
                teacher="bench",
                student="bench",
            )
        )
    return pairs


class _PeakMemory:
    """Peak memory of a block: CUDA's peak allocation, or on a CPU the peak growth of resident memory.

    On a CPU a background thread samples the resident set size with psutil; without psutil the block's growth of
    ``getrusage``'s max RSS stands in, which only sees growth past the process's earlier high-water mark (a lower
    bound once an earlier run went higher).
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.kind = "CUDA peak allocated"
        self.peak_bytes = 0
        self._process: Any = None
        if device.type != "cuda":
            try:
                import psutil  # type: ignore[import-untyped]  # no stubs installed

                self._process = psutil.Process()
                self.kind = "peak RSS growth"
            except ImportError:
                self.kind = "max RSS growth (getrusage)"
        self._start = 0
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None

    def __enter__(self) -> _PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        elif self._process is not None:
            self._start = self.peak_bytes = int(self._process.memory_info().rss)
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()
        else:
            self._start = _max_rss_bytes()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self.device.type == "cuda":
            self.peak_bytes = int(torch.cuda.max_memory_allocated(self.device))
        elif self._sampler is not None:
            self._stop.set()
            self._sampler.join()
            self.peak_bytes = max(self.peak_bytes, int(self._process.memory_info().rss)) - self._start
        else:
            self.peak_bytes = _max_rss_bytes() - self._start

    def _sample(self) -> None:
        # Every 10 ms: a training step's peak (the backward pass) lasts far longer, and reading /proc this often
        # costs both sides the same negligible time.
        while not self._stop.wait(0.01):
            self.peak_bytes = max(self.peak_bytes, int(self._process.memory_info().rss))


@dataclass(frozen=True)
class _Run:
    """One side's training run: optimiser steps, seconds in ``trainer.train()``, peak memory."""

    steps: int
    seconds: float
    peak_bytes: int
    memory_kind: str


def _max_rss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)  # bytes on macOS, KiB on Linux


def _release(device: torch.device) -> None:
    """Give the previous run's memory back, so that the next run's memory growth starts from a like baseline."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        return
    # glibc keeps freed heap pages in the process; without trimming, a later run reuses them and shows less
    # resident growth than an earlier one for the same work.
    libc = ctypes.util.find_library("c")
    trim = getattr(ctypes.CDLL(libc), "malloc_trim", None) if libc else None
    if trim is not None:
        trim(0)


def _ours(model: str, rows: list[dict[str, str]], settings: DpoSettings) -> _Run:
    """The pipeline's DPO step, as ``characterlab train`` runs it (without resuming, without a progress bar)."""
    # A fresh load every run: the adapter is injected into the loaded model's modules in place.
    loaded = load_model(model)
    with tempfile.TemporaryDirectory(prefix="bench-dpo-ours-") as folder, _PeakMemory(loaded.device) as memory:
        result = train_dpo(loaded, rows, Path(folder), settings, resume=False, progress=False)
    return _Run(result.steps, result.seconds, memory.peak_bytes, memory.kind)


def _baseline(model: str, rows: list[dict[str, str]], settings: DpoSettings) -> _Run:
    """A plain TRL script: the same trainer, settings and rows, no checkpoints, nothing around it."""
    from datasets import Dataset
    from peft import LoraConfig
    from trl import DPOConfig, DPOTrainer

    loaded: LoadedModel = load_model(model)
    cuda = loaded.device.type == "cuda"
    with tempfile.TemporaryDirectory(prefix="bench-dpo-plain-") as folder, _PeakMemory(loaded.device) as memory:
        config = DPOConfig(
            output_dir=folder,
            beta=settings.beta,
            learning_rate=settings.learning_rate,
            num_train_epochs=settings.epochs,
            per_device_train_batch_size=settings.batch_size,
            gradient_accumulation_steps=settings.gradient_accumulation_steps,
            max_length=settings.max_length,
            warmup_steps=settings.warmup_ratio,  # a float in [0, 1) is a fraction of the steps, as in ours
            gradient_checkpointing=settings.gradient_checkpointing,
            logging_steps=1,
            save_strategy="no",
            seed=settings.seed,
            data_seed=settings.seed,
            report_to=[],
            disable_tqdm=True,
            bf16=cuda and loaded.dtype == torch.bfloat16,
            use_cpu=not cuda,
        )
        lora = LoraConfig(
            r=settings.rank,
            lora_alpha=settings.lora_alpha,
            lora_dropout=settings.lora_dropout,
            target_modules=settings.target_modules,
            task_type="CAUSAL_LM",
        )
        hf_model: Any = loaded.model
        trainer = DPOTrainer(
            model=hf_model,
            args=config,
            train_dataset=Dataset.from_list(rows),
            processing_class=loaded.tokenizer,
            peft_config=lora,
        )
        if cuda:
            # Ours resets the peak right before training too: on a GPU both sides report the training's peak.
            torch.cuda.reset_peak_memory_stats(loaded.device)
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
    return _Run(int(trainer.state.global_step), seconds, memory.peak_bytes, memory.kind)


def run(model: str, *, count: int = 32, batch_size: int = 4, epochs: float = 1.0, repeats: int = 2) -> list[Ratio]:
    """Measure train_dpo's steps per second against a plain TRL script's on the same rows, and both peaks."""
    # save_steps past the run's length: ours writes no checkpoint mid-run, as the plain script writes none. The
    # Trainer still writes ours' one resume point at the end of train(); that stays in ours' time, as the
    # pipeline's real cost.
    settings = DpoSettings(batch_size=batch_size, epochs=epochs, save_steps=1_000_000)
    unmirrored = set(DpoSettings.model_fields) - MIRRORED_SETTINGS
    if unmirrored:
        # A setting the plain script does not pass would make the two sides train differently without a word.
        raise RuntimeError(f"bench.dpo's plain TRL script does not mirror DpoSettings' {sorted(unmirrored)}")
    probe = load_model(model)
    device = probe.device
    rows = dpo_rows(probe, preference_pairs(count))
    del probe
    # Imported before any measuring, so that neither side's memory counts the libraries' first import (train_dpo
    # imports matplotlib for its figure after training).
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot
    import trl  # noqa: F401

    # Warm-up, one step: the first training in a process pays one-off costs (lazy initialisation, first-touch
    # allocations) that would otherwise land on whichever side goes first.
    _baseline(model, rows[:batch_size], settings)
    sides = {"ours": _ours, "baseline": _baseline}
    runs: dict[str, list[_Run]] = {"ours": [], "baseline": []}
    for repeat in range(repeats):
        # Alternate which side goes first (ours, plain, plain, ours, ...): drift in machine load then touches both
        # alike; each side keeps its fastest run.
        order = ("ours", "baseline") if repeat % 2 == 0 else ("baseline", "ours")
        for side in order:
            _release(device)
            runs[side].append(sides[side](model, rows, settings))
    _release(device)
    steps = {entry.steps for side in runs.values() for entry in side}
    if len(steps) != 1:
        raise RuntimeError(f"the two sides took different numbers of steps: {sorted(steps)}")
    step_count = steps.pop()
    ours_seconds = min(entry.seconds for entry in runs["ours"])
    base_seconds = min(entry.seconds for entry in runs["baseline"])
    ours_peak = max(entry.peak_bytes for entry in runs["ours"]) / MIB
    base_peak = max(entry.peak_bytes for entry in runs["baseline"]) / MIB
    kind = runs["ours"][0].memory_kind
    ratios = [
        Ratio(
            name=f"DPO steps/s, train_dpo vs plain TRL ({count} pairs, batch {batch_size}, {model})",
            ours=step_count / ours_seconds,
            baseline=step_count / base_seconds,
            unit="steps/s",
            target=0.95,
            direction="at_least",
            detail=(
                f"{step_count} steps a run, best of {repeats} (ours {_seconds(runs['ours'])}, plain "
                f"{_seconds(runs['baseline'])} s); peak memory {ours_peak:.1f} vs {base_peak:.1f} MiB ({kind}); "
                "ours' time includes its final checkpoint"
            ),
        )
    ]
    # Without psutil the CPU figure can be 0 (no new high-water mark): then there is no ratio to give.
    if ours_peak > 0 and base_peak > 0:
        ratios.append(
            Ratio(
                name=f"DPO peak memory, train_dpo vs plain TRL ({kind}, {model})",
                ours=ours_peak,
                baseline=base_peak,
                unit="MiB",
                target=0.10,
                direction="at_most",
            )
        )
    return ratios


def _seconds(runs: list[_Run]) -> str:
    return "/".join(f"{entry.seconds:.2f}" for entry in runs)


def main() -> None:
    """Command line: ``python -m bench.dpo --model default --pairs 32``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="default")
    parser.add_argument("--pairs", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report(
        run(args.model, count=args.pairs, batch_size=args.batch_size, epochs=args.epochs, repeats=args.repeats),
        as_json=args.json,
    )


if __name__ == "__main__":
    main()
