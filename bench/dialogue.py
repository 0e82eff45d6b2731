"""The ``dialogue`` task, end to end through Inspect: conversations advancing together, so that the local provider
batches the turns of many conversations, against the same conversations held one after another.

Both sides hold the same conversations (same openers, seeds and weights) and must say the same things: the local
engine seeds every row on its own, so batching changes the speed, not the words. Throughput is counted in
generated words per second, the work both sides share.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from inspect_ai import eval
from inspect_ai.model import get_model

from bench._report import Ratio, report
from characterlab.dialogue import dialogue
from characterlab.models import LocalModelAPI


def _hold(
    model_name: str, count: int, turns: int, max_tokens: int, parallel: bool, log_dir: Path, engine: object
) -> tuple[float, dict[str, list[str]]]:
    model = get_model(model_name, memoize=False, batch_size=count if parallel else 1, batch_wait_ms=20, engine=engine)
    openers = [f"Conversation {index}: tell me about a place you would like to visit." for index in range(count)]
    task = dialogue(opener=openers, max_turns=turns, max_tokens=max_tokens, embeddings=False, seed=0)
    options: dict[str, Any] = {"max_samples": count, "max_connections": count} if parallel else {"max_samples": 1}
    start = time.perf_counter()
    log = eval(task, model=model, display="none", log_dir=str(log_dir), **options)[0]
    seconds = time.perf_counter() - start
    if log.status != "success" or not log.samples:
        raise RuntimeError(f"the benchmark run failed: {log.error}")
    said = {str(sample.id): [turn["text"] for turn in sample.store["turns"]] for sample in log.samples}
    words = sum(len(text.split()) for texts in said.values() for text in texts)
    return words / seconds, said


def run(model: str, *, count: int = 16, turns: int = 10, max_tokens: int = 48) -> list[Ratio]:
    """Generated words per second: conversations held together against one after another."""
    loaded = get_model(model, memoize=False)
    assert isinstance(loaded.api, LocalModelAPI)
    engine = loaded.api.engine
    with tempfile.TemporaryDirectory() as folder:
        _hold(model, min(count, 2), 2, max_tokens, True, Path(folder) / "warm", engine)  # lazy initialisation
        together, together_said = _hold(model, count, turns, max_tokens, True, Path(folder) / "p", engine)
        alone, alone_said = _hold(model, count, turns, max_tokens, False, Path(folder) / "s", engine)
    same = sum(together_said[key] == alone_said[key] for key in together_said)
    return [
        Ratio(
            f"dialogue words/s, {count} conversations together vs one after another",
            together,
            alone,
            "words/s",
            3.0,
            "at_least",
            f"{count} conversations of {turns} turns, at most {max_tokens} tokens a turn; "
            f"identical conversations {same}/{count}",
        )
    ]


def main() -> None:
    """Command line: ``python -m bench.dialogue --model default``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="default", help="characterlab model name (default, base, or a folder)")
    parser.add_argument("--conversations", type=int, default=16)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    ratios = run(f"characterlab/{args.model}", count=args.conversations, turns=args.turns, max_tokens=args.max_tokens)
    report(ratios, as_json=args.json)


if __name__ == "__main__":
    main()
