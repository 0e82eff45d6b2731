"""Generation: 16 concurrent requests through the Inspect provider (batched) vs a sequential generate() loop.

Both sides run greedy decoding of the same prompts on the same model; throughput is generated tokens per second.
The baseline is transformers' own ``model.generate`` called once per prompt, as a script without batching would.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import torch
from inspect_ai.model import ChatMessageUser, GenerateConfig, get_model

from bench._report import Ratio, report
from characterlab.models import LocalModelAPI, load_model

QUESTIONS = [
    "What is the capital of France?",
    "Give me one tip for sleeping better.",
    "Why is the sky blue?",
    "Name three kinds of cloud.",
    "How do bees make honey?",
    "What is a prime number?",
    "Describe a lighthouse in one sentence.",
    "What should I cook tonight?",
    "How far away is the Moon?",
    "Why do cats purr?",
    "What is the tallest mountain?",
    "How does a compass work?",
    "Suggest a name for a small boat.",
    "What is photosynthesis?",
    "How many legs does a spider have?",
    "Why do leaves change colour in autumn?",
]


def run(model: str, *, requests: int = 16, max_tokens: int = 48) -> list[Ratio]:
    """Measure batched provider throughput against a sequential generate() loop on the same model."""
    prompts = [QUESTIONS[i % len(QUESTIONS)] + ("" if i < len(QUESTIONS) else f" ({i})") for i in range(requests)]
    loaded = load_model(model)
    tokenizer, hf_model = loaded.tokenizer, loaded.model

    def encode(prompt: str) -> torch.Tensor:
        if loaded.has_chat_template:
            ids = tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], add_generation_prompt=True, return_tensors="pt"
            )
            return ids if isinstance(ids, torch.Tensor) else ids["input_ids"]
        return tokenizer(prompt, return_tensors="pt")["input_ids"]

    start = time.perf_counter()
    baseline_tokens = 0
    with torch.inference_mode():
        for prompt in prompts:
            ids = encode(prompt)
            out = hf_model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
            baseline_tokens += int(out.shape[1] - ids.shape[1])
    baseline_seconds = time.perf_counter() - start

    provider = get_model(
        f"characterlab/{model}",
        batch_size=requests,
        config=GenerateConfig(max_tokens=max_tokens, temperature=0.0, max_connections=requests),
    )

    async def concurrent() -> int:
        outputs = await asyncio.gather(*(provider.generate([ChatMessageUser(content=p)]) for p in prompts))
        return sum(output.usage.output_tokens for output in outputs if output.usage is not None)

    asyncio.run(concurrent())  # warm-up: the provider loads its model on first use
    start = time.perf_counter()
    ours_tokens = asyncio.run(concurrent())
    ours_seconds = time.perf_counter() - start
    assert isinstance(provider.api, LocalModelAPI)
    return [
        Ratio(
            name=f"generation ({requests} concurrent requests, {model})",
            ours=ours_tokens / ours_seconds,
            baseline=baseline_tokens / baseline_seconds,
            unit="tokens/s",
            target=4.0,
            direction="at_least",
            detail=f"{ours_tokens} tokens in {ours_seconds:.1f} s vs {baseline_tokens} in {baseline_seconds:.1f} s",
        )
    ]


def main() -> None:
    """Command line: ``python -m bench.generation --model default``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="default")
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report(run(args.model, requests=args.requests, max_tokens=args.max_tokens), as_json=args.json)


if __name__ == "__main__":
    main()
