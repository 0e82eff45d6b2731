"""Activation capture and steering overhead vs a plain forward pass over the same prompts.

All three sides run the same left-padded batches through the same model: a plain forward; the engine's capture of
three layers' hidden states (reduced to the last prompt token); and a plain forward with three steering vectors
hooked in. The target is that capture and steering each cost at most 10 % more than the plain forward.
"""

from __future__ import annotations

import argparse
import time

import torch

from bench._report import Ratio, report
from bench.generation import QUESTIONS
from characterlab.models import ActivationSpec, LocalEngine, SteeringVector, load_model


def run(model: str, *, count: int = 200, batch_size: int = 16, repeats: int = 3) -> list[Ratio]:
    """Measure the overhead of activation capture and of steering against plain forwards."""
    engine = LocalEngine(load_model(model))
    loaded = engine.loaded
    prompts = [engine.encode(f"{QUESTIONS[i % len(QUESTIONS)]} Answer {i} in full sentences.") for i in range(count)]
    layers = (loaded.num_layers // 4, loaded.num_layers // 2, (3 * loaded.num_layers) // 4)
    pad = loaded.tokenizer.pad_token_id
    batches = []
    for start in range(0, count, batch_size):
        chunk = prompts[start : start + batch_size]
        width = max(len(p) for p in chunk)
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in chunk], device=loaded.device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk], device=loaded.device)
        batches.append((ids, mask, (mask.cumsum(-1) - 1).clamp(min=0)))

    def plain() -> float:
        start = time.perf_counter()
        with torch.inference_mode():
            for ids, mask, positions in batches:
                # Logits at the last position only, as the engine computes them: the comparison is about the
                # hooks, not about projecting every position onto the vocabulary.
                loaded.model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=1)
        return time.perf_counter() - start

    def capture() -> float:
        start = time.perf_counter()
        engine.capture(prompts, ActivationSpec(layers=layers), batch_size=batch_size)
        return time.perf_counter() - start

    generator = torch.Generator().manual_seed(0)
    vectors = [
        SteeringVector(layer=layer, vector=torch.randn(loaded.hidden_size, generator=generator), alpha=0.5)
        for layer in layers
    ]

    def steered() -> float:
        with engine.steering(vectors):
            return plain()

    plain(), capture(), steered()  # warm-up
    # Interleave the three so that drift in machine load touches each alike; keep each one's fastest run.
    times: dict[str, list[float]] = {"plain": [], "capture": [], "steered": []}
    for _ in range(repeats):
        times["plain"].append(plain())
        times["capture"].append(capture())
        times["steered"].append(steered())
    base = min(times["plain"])
    return [
        Ratio(
            name=f"activation capture ({len(layers)} layers, {count} prompts, {model})",
            ours=min(times["capture"]),
            baseline=base,
            unit="s",
            target=0.10,
            direction="at_most",
        ),
        Ratio(
            name=f"steering ({len(vectors)} vectors, {count} prompts, {model})",
            ours=min(times["steered"]),
            baseline=base,
            unit="s",
            target=0.10,
            direction="at_most",
        ),
    ]


def main() -> None:
    """Command line: ``python -m bench.activations --model default --prompts 200``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="default")
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report(run(args.model, count=args.prompts, batch_size=args.batch_size, repeats=args.repeats), as_json=args.json)


if __name__ == "__main__":
    main()
