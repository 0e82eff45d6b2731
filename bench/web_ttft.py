"""Time to first token through the web lab against calling the provider directly, with many chats served.

Both sides hold the same conversations with the same model and time each reply from the request to its first
streamed text. Directly: ``LocalModelAPI.generate_streaming`` in this process. Through the lab: a real uvicorn
server on 127.0.0.1 (in this process, beside the model) and the chats' HTTP clients in another process, as
browsers are, posting each turn and reading the server-sent events. The difference of the medians is what the
web layer adds (database writes, routing, SSE framing, the socket); the issue's target is at most 50 ms with 20
chats served.

Three loads: *alone*, one chat (what the web layer costs a reply when nothing competes); *served*, ``count`` chats
talking at once, each person pausing a little (0 to 1 s, the same pauses on
both sides) before their next turn, as people in a lab do; and *burst*, ``count`` turns sent in the same instant
(where the lab's handling of the requests, one after another on the server, spreads them out before they reach
the model).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import statistics
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx
import uvicorn
from inspect_ai.model import ChatMessage, ChatMessageAssistant, ChatMessageUser, GenerateConfig, get_model

from bench._report import Ratio, report
from characterlab.models import LocalModelAPI
from characterlab.store import Store
from characterlab.web import LabSettings, create_app

_SETTINGS = {"temperature": 0.0, "max_tokens": 16}


def _questions(count: int, round_: int) -> list[str]:
    return [f"Round {round_}, question {index}: tell me about the number {index + 7}." for index in range(count)]


def _pauses(count: int, turns: int, round_: int) -> list[list[float]]:
    """Each person's thinking time (s) before each turn; the same on both sides of a round."""
    rng = random.Random(round_)
    return [[rng.uniform(0.0, 1.0) for _ in range(turns)] for _ in range(count)]


def _turn(round_: int, chat: int, turn: int) -> str:
    return f"Round {round_}, chat {chat}, turn {turn}: tell me something about the number {chat + turn + 7}."


async def _direct_chats(api: LocalModelAPI, count: int, turns: int, round_: int) -> list[float]:
    config = GenerateConfig(temperature=_SETTINGS["temperature"], max_tokens=int(_SETTINGS["max_tokens"]))
    pauses = _pauses(count, turns, round_)

    async def chat(index: int) -> list[float]:
        history: list[ChatMessage] = []
        seen: list[float] = []
        for turn in range(turns):
            await asyncio.sleep(pauses[index][turn])
            history.append(ChatMessageUser(content=_turn(round_, index, turn)))
            ttft, reply = await _streamed(api, history, config)
            seen.append(ttft)
            history.append(ChatMessageAssistant(content=reply.strip()))
        return seen

    return [ttft for chat_ttfts in await asyncio.gather(*(chat(i) for i in range(count))) for ttft in chat_ttfts]


def _lab_chats(
    clients: ProcessPoolExecutor, base: str, store: Store, model: str, count: int, turns: int, round_: int
) -> list[float]:
    chats = [store.create_chat(model=model, settings=dict(_SETTINGS)).id for _ in range(count)]
    return clients.submit(_talk_in_lab, base, chats, turns, round_).result()


def _talk_in_lab(base: str, chats: list[str], turns: int, round_: int) -> list[float]:
    """In the clients' process: hold every chat's conversation, timing each reply to its first draft."""
    return asyncio.run(_talk_in_lab_async(base, chats, turns, round_))


async def _talk_in_lab_async(base: str, chats: list[str], turns: int, round_: int) -> list[float]:
    pauses = _pauses(len(chats), turns, round_)
    async with httpx.AsyncClient(base_url=base, timeout=300) as client:
        headers = {"X-CSRF-Token": (await client.get("/")).cookies["characterlab_csrf"]}

        async def chat(index: int, chat_id: str) -> list[float]:
            seen: list[float] = []
            for turn in range(turns):
                await asyncio.sleep(pauses[index][turn])
                seen.append(await _one_turn(client, headers, chat_id, _turn(round_, index, turn)))
            return seen

        talks = await asyncio.gather(*(chat(index, chat_id) for index, chat_id in enumerate(chats)))
    return [ttft for chat_ttfts in talks for ttft in chat_ttfts]


async def _one_turn(client: httpx.AsyncClient, headers: dict[str, str], chat_id: str, text: str) -> float:
    """Post a turn, read its events to the end, and return the seconds to its first draft."""
    started = time.perf_counter()
    seen: float | None = None
    async with client.stream("POST", f"/chats/{chat_id}/send", json={"text": text}, headers=headers) as response:
        async for line in response.aiter_lines():
            if seen is None and line == "event: draft":
                seen = time.perf_counter() - started
            if line.startswith("event: error"):
                raise RuntimeError(f"the lab failed a reply: {await response.aread()!r}")
    if seen is None:
        raise RuntimeError("a reply streamed no draft")
    return seen


async def _direct(api: LocalModelAPI, questions: list[str]) -> list[float]:
    config = GenerateConfig(temperature=_SETTINGS["temperature"], max_tokens=int(_SETTINGS["max_tokens"]))
    asked = [_streamed(api, [ChatMessageUser(content=question)], config) for question in questions]
    return [ttft for ttft, _ in await asyncio.gather(*asked)]


async def _streamed(api: LocalModelAPI, messages: list[ChatMessage], config: GenerateConfig) -> tuple[float, str]:
    """Seconds to the first streamed text of a reply, and the reply."""
    started = time.perf_counter()
    first: list[float] = []

    def on_text(_: str) -> None:
        if not first:
            first.append(time.perf_counter() - started)

    output = await api.generate_streaming(messages, config, on_text)
    return first[0], output.completion


def _through_lab(
    clients: ProcessPoolExecutor, base: str, store: Store, model: str, questions: list[str]
) -> list[float]:
    chats = [store.create_chat(model=model, settings=dict(_SETTINGS)).id for _ in questions]
    return clients.submit(_ask_lab, base, chats, questions).result()


def _ask_lab(base: str, chats: list[str], questions: list[str]) -> list[float]:
    """In the clients' process: post every turn at once and time each to its first draft."""
    return asyncio.run(_ask_lab_async(base, chats, questions))


async def _ask_lab_async(base: str, chats: list[str], questions: list[str]) -> list[float]:
    async with httpx.AsyncClient(base_url=base, timeout=300) as client:
        headers = {"X-CSRF-Token": (await client.get("/")).cookies["characterlab_csrf"]}
        asked = zip(chats, questions, strict=True)
        return list(await asyncio.gather(*(_one_turn(client, headers, chat, q) for chat, q in asked)))


def _serve(store: Store) -> tuple[uvicorn.Server, str]:
    with_socket = uvicorn.Config(create_app(LabSettings(store=store)), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(with_socket)
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


def run(model: str, *, count: int = 20, rounds: int = 3, turns: int = 3) -> list[Ratio]:
    """Median time to first token (ms) through the lab against the provider directly, ``count`` chats served."""
    loaded = get_model(model)  # memoized: the lab's chats get this same provider and engine
    api = loaded.api
    assert isinstance(api, LocalModelAPI)
    alone: dict[str, list[float]] = {"direct": [], "lab": []}
    served: dict[str, list[float]] = {"direct": [], "lab": []}
    burst: dict[str, list[float]] = {"direct": [], "lab": []}
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no copy of the loaded model
    with tempfile.TemporaryDirectory() as folder, ProcessPoolExecutor(1, mp_context=spawn) as clients:
        store = Store(f"sqlite:///{Path(folder) / 'lab.db'}")
        server, base = _serve(store)
        try:
            asyncio.run(_direct(api, _questions(2, -1)))  # lazy initialisation on both sides
            _through_lab(clients, base, store, model, _questions(2, -1))
            for round_ in range(rounds):
                # Alternating sides, so that a slow moment of the machine does not land on one side only.
                alone["direct"] += asyncio.run(_direct_chats(api, 1, 2 * turns, round_))
                alone["lab"] += _lab_chats(clients, base, store, model, 1, 2 * turns, round_)
                served["direct"] += asyncio.run(_direct_chats(api, count, turns, round_))
                served["lab"] += _lab_chats(clients, base, store, model, count, turns, round_)
                burst["direct"] += asyncio.run(_direct(api, _questions(count, round_)))
                burst["lab"] += _through_lab(clients, base, store, model, _questions(count, round_))
        finally:
            server.should_exit = True
    return [
        _ratio(f"time to first token through the lab vs the provider directly, {count} chats served", served),
        _ratio("the same for one chat alone", alone),
        _ratio(f"the same with {count} turns sent in the same instant (burst)", burst),
    ]


def _ratio(name: str, seconds: dict[str, list[float]]) -> Ratio:
    lab, direct = seconds["lab"], seconds["direct"]
    return Ratio(
        name,
        statistics.median(lab) * 1000,
        statistics.median(direct) * 1000,
        "ms",
        50.0,
        "added_at_most",
        f"medians of {len(lab)} replies a side; p90 lab {statistics.quantiles(lab, n=10)[-1] * 1000:.0f} ms vs "
        f"direct {statistics.quantiles(direct, n=10)[-1] * 1000:.0f} ms",
    )


def main() -> None:
    """Command line: ``python -m bench.web_ttft --model default``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="default", help="characterlab model name (default, base, or a folder)")
    parser.add_argument("--chats", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--turns", type=int, default=3, help="turns of each chat per round (served load)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report(run(f"characterlab/{args.model}", count=args.chats, rounds=args.rounds, turns=args.turns), as_json=args.json)


if __name__ == "__main__":
    main()
