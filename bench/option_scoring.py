"""Option scoring: two-option items with the context run once and shared, vs each option as its own sequence.

The items are what a persona study asks a staged character: the thin assistant's chat frame, then a statement from
Anthropic's model-written persona evaluations (or a synthetic one where that data set is absent), answered
" Yes" or " No". The baseline runs every (context + option) as an independent full sequence, batched the same
way and computing logits only at the option positions, as the engine does; both sides must give the same
log-likelihoods.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from bench._report import Ratio, report
from characterlab.characters import load_character
from characterlab.models import LocalEngine, load_model
from characterlab.stage import render_system_prompt

ROOT = Path(__file__).resolve().parent.parent
PERSONA = ROOT.parent / "shared" / "data" / "anthropic-evals" / "persona" / "agreeableness.jsonl"


def items(count: int) -> list[tuple[str, list[str]]]:
    """Contexts (a staged character's prompt and a question) with the options " Yes" and " No"."""
    if PERSONA.exists():
        lines = PERSONA.read_text(encoding="utf-8").splitlines()
        statements = [json.loads(line)["statement"] for line in lines[:count]]
    else:
        statements = [f"I enjoy helping people with problem number {i}." for i in range(count)]
    while len(statements) < count:
        statements += statements[: count - len(statements)]
    frame = render_system_prompt(load_character(ROOT / "examples" / "characters" / "assistant.character.yaml"))
    question = "Human: Is the following statement something you would say?"
    return [(f'{frame}\n\n{question}\n"{s}"\n\nAssistant:', [" Yes", " No"]) for s in statements]


def independent(engine: LocalEngine, batch: list[tuple[str, list[str]]], batch_size: int) -> list[list[float]]:
    """The baseline: every option scored as its own full sequence (left-padded batches, one forward each)."""
    rows = []
    for context, options in batch:
        context_ids = engine.encode(context)
        for option in options:
            whole = engine.encode(context + option)
            rows.append((whole, len(whole) - len(context_ids)))
    model, pad = engine.loaded.model, engine.loaded.tokenizer.pad_token_id
    scores: list[float] = []
    with torch.inference_mode():
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            width = max(len(ids) for ids, _ in chunk)
            ids = torch.tensor([[pad] * (width - len(i)) + i for i, _ in chunk])
            mask = torch.tensor([[0] * (width - len(i)) + [1] * len(i) for i, _ in chunk])
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            # Logits only where the options are predicted, as the engine does: the comparison is about sharing
            # the context, not about computing the vocabulary at every position.
            keep = max(n for _, n in chunk) + 1
            logits = model(
                input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=keep
            ).logits.float()
            logprobs = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, width - keep + 1 :, None])[..., 0]
            for row, (_, n_option) in enumerate(chunk):
                scores.append(float(logprobs[row, keep - 1 - n_option :].sum()))
    return [scores[i : i + 2] for i in range(0, len(scores), 2)]


def run(model: str, *, count: int = 1000, batch_size: int = 16) -> list[Ratio]:
    """Measure shared-prefix option scoring against independent sequences on the same model."""
    engine = LocalEngine(load_model(model))
    work = items(count)
    engine.score_options_batch(work[:batch_size], batch_size=batch_size)  # warm-up
    independent(engine, work[:batch_size], batch_size)
    start = time.perf_counter()
    baseline = independent(engine, work, batch_size)
    baseline_seconds = time.perf_counter() - start
    start = time.perf_counter()
    ours = engine.score_options_batch(work, batch_size=batch_size)
    ours_seconds = time.perf_counter() - start
    worst = max(
        abs(a - b)
        for scores, base in zip(ours, baseline, strict=True)
        for a, b in zip(scores.logprobs, base, strict=True)
    )
    return [
        Ratio(
            name=f"option scoring ({count} two-option items, {model})",
            ours=count / ours_seconds,
            baseline=count / baseline_seconds,
            unit="items/s",
            target=1.7,
            direction="at_least",
            detail=f"largest log-likelihood difference between the two {worst:.2e}",
        )
    ]


def main() -> None:
    """Command line: ``python -m bench.option_scoring --model default --items 1000``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="default")
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report(run(args.model, count=args.items, batch_size=args.batch_size), as_json=args.json)


if __name__ == "__main__":
    main()
