"""Time to first token through the web lab against calling the provider directly, with many chats at once.

Both sides ask the same model the same questions, ``count`` at a time, and time each reply from the request to
its first streamed text. Directly: ``LocalModelAPI.generate_streaming`` in this process. Through the lab: a
real uvicorn server on 127.0.0.1 and one HTTP client per chat, posting the turn and reading the server-sent
events until the first draft. The difference of the medians is what the web layer adds (database writes,
routing, SSE framing, the socket); the issue's target is at most 50 ms with 20 chats served.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from inspect_ai.model import ChatMessageUser, GenerateConfig, get_model

from bench._report import Ratio, report
from characterlab.models import LocalModelAPI
from characterlab.store import Store
from characterlab.web import LabSettings, create_app

_SETTINGS = {"temperature": 0.0, "max_tokens": 16}


def _questions(count: int, round_: int) -> list[str]:
    return [f"Round {round_}, question {index}: tell me about the number {index + 7}." for index in range(count)]


async def _direct(api: LocalModelAPI, questions: list[str]) -> list[float]:
    config = GenerateConfig(temperature=_SETTINGS["temperature"], max_tokens=int(_SETTINGS["max_tokens"]))

    async def one(question: str) -> float:
        started = time.perf_counter()
        first = asyncio.get_running_loop().create_future()

        def on_text(_: str) -> None:
            if not first.done():
                first.set_result(time.perf_counter() - started)

        await api.generate_streaming([ChatMessageUser(content=question)], config, on_text)
        return float(first.result())

    return list(await asyncio.gather(*(one(question) for question in questions)))


async def _through_lab(base: str, store: Store, model: str, questions: list[str]) -> list[float]:
    chats = [store.create_chat(model=model, settings=dict(_SETTINGS)).id for _ in questions]
    async with httpx.AsyncClient(base_url=base, timeout=300) as client:
        token = (await client.get("/")).cookies["characterlab_csrf"]
        headers = {"X-CSRF-Token": token}

        async def one(chat_id: str, question: str) -> float:
            started = time.perf_counter()
            seen: float | None = None
            async with client.stream("POST", f"/chats/{chat_id}/send", json={"text": question}, headers=headers) as r:
                async for line in r.aiter_lines():
                    if seen is None and line == "event: draft":
                        seen = time.perf_counter() - started
                    if line.startswith("event: error"):
                        raise RuntimeError(f"the lab failed a reply: {await r.aread()!r}")
            if seen is None:
                raise RuntimeError("a reply streamed no draft")
            return seen

        return list(await asyncio.gather(*(one(chat, q) for chat, q in zip(chats, questions, strict=True))))


def _serve(store: Store) -> tuple[uvicorn.Server, str]:
    with_socket = uvicorn.Config(create_app(LabSettings(store=store)), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(with_socket)
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


def run(model: str, *, count: int = 20, rounds: int = 3) -> list[Ratio]:
    """Median time to first token (ms): through the lab against the provider directly, ``count`` chats at once."""
    loaded = get_model(model)  # memoized: the lab's chats get this same provider and engine
    api = loaded.api
    assert isinstance(api, LocalModelAPI)
    direct: list[float] = []
    lab: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        store = Store(f"sqlite:///{Path(folder) / 'lab.db'}")
        server, base = _serve(store)
        try:
            asyncio.run(_direct(api, _questions(2, -1)))  # lazy initialisation on both sides
            asyncio.run(_through_lab(base, store, model, _questions(2, -1)))
            for round_ in range(rounds):
                # Alternating sides, so that a slow moment of the machine does not land on one side only.
                direct += asyncio.run(_direct(api, _questions(count, round_)))
                lab += asyncio.run(_through_lab(base, store, model, _questions(count, round_)))
        finally:
            server.should_exit = True
    ours, baseline = statistics.median(lab) * 1000, statistics.median(direct) * 1000
    return [
        Ratio(
            f"time to first token through the lab vs the provider directly, {count} chats at once",
            ours,
            baseline,
            "ms",
            50.0,
            "added_at_most",
            f"medians of {len(lab)} replies a side over {rounds} rounds; p90 lab "
            f"{statistics.quantiles(lab, n=10)[-1] * 1000:.0f} ms vs direct "
            f"{statistics.quantiles(direct, n=10)[-1] * 1000:.0f} ms",
        )
    ]


def main() -> None:
    """Command line: ``python -m bench.web_ttft --model default``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="default", help="characterlab model name (default, base, or a folder)")
    parser.add_argument("--chats", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report(run(f"characterlab/{args.model}", count=args.chats, rounds=args.rounds), as_json=args.json)


if __name__ == "__main__":
    main()
