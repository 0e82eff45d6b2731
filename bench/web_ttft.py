"""Time to first token through the web lab against calling the provider directly, with many chats served.

Both sides hold the same conversations with the same model and time each reply from the request to its first
streamed text. Directly: ``LocalModelAPI.generate_streaming`` in this process. Through the lab: a real uvicorn
server on 127.0.0.1 (in this process, beside the model) and the chats' HTTP clients in another process, as
browsers are, posting each turn and reading the server-sent events. Both sides run the same turns in the same
order, so each turn is timed twice: the median of the per-turn differences (lab - direct) is what the web layer
adds (database reads and writes, routing, the prompt, SSE framing, the socket), with a 95% bootstrap interval
clustered by conversation. The issue's target is at most 50 ms with 20 chats served.

Four loads, each a round at a time on alternating sides:

- *served*: ``count`` chats talking at once, each person taking 2 to 10 s to read a reply and write the next turn
  (the same pauses on both sides) — 20 people using one lab. This is the target's load.
- *alone*: one chat: what the web layer costs a reply when nothing competes.
- *saturated*: ``count`` chats with pauses of 0 to 1 s, more than the model keeps up with on a small machine:
  requests queue for the model, and any CPU the server takes from it lengthens everyone's wait.
- *burst*: ``count`` turns sent in the same instant (the server handles the requests one after another, which
  spreads them out before they reach the model).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import uvicorn
from inspect_ai.model import ChatMessage, ChatMessageAssistant, ChatMessageUser, GenerateConfig, get_model

from bench._report import Ratio, report
from characterlab.models import LocalModelAPI
from characterlab.store import Store
from characterlab.web import LabSettings, create_app

_SETTINGS = {"temperature": 0.0, "max_tokens": 16}


def _questions(count: int, round_: int) -> list[str]:
    return [f"Round {round_}, question {index}: tell me about the number {index + 7}." for index in range(count)]


def _pauses(count: int, turns: int, round_: int, pace: tuple[float, float]) -> list[list[float]]:
    """Each person's time (s) to read and write before each turn; the same on both sides of a round."""
    rng = random.Random(round_)
    return [[rng.uniform(*pace) for _ in range(turns)] for _ in range(count)]


def _turn(round_: int, chat: int, turn: int) -> str:
    return f"Round {round_}, chat {chat}, turn {turn}: tell me something about the number {chat + turn + 7}."


async def _direct_chats(
    api: LocalModelAPI, count: int, turns: int, round_: int, pace: tuple[float, float]
) -> list[float]:
    config = GenerateConfig(temperature=_SETTINGS["temperature"], max_tokens=int(_SETTINGS["max_tokens"]))
    pauses = _pauses(count, turns, round_, pace)

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
    clients: ProcessPoolExecutor,
    base: str,
    store: Store,
    model: str,
    count: int,
    turns: int,
    round_: int,
    pace: tuple[float, float],
) -> list[float]:
    chats = [store.create_chat(model=model, settings=dict(_SETTINGS)).id for _ in range(count)]
    return clients.submit(_talk_in_lab, base, chats, turns, round_, pace).result()


def _talk_in_lab(base: str, chats: list[str], turns: int, round_: int, pace: tuple[float, float]) -> list[float]:
    """In the clients' process: hold every chat's conversation, timing each reply to its first draft."""
    return asyncio.run(_talk_in_lab_async(base, chats, turns, round_, pace))


async def _talk_in_lab_async(
    base: str, chats: list[str], turns: int, round_: int, pace: tuple[float, float]
) -> list[float]:
    pauses = _pauses(len(chats), turns, round_, pace)
    csrf = await _csrf_token(base)

    async def chat(index: int, chat_id: str) -> list[float]:
        seen: list[float] = []
        async with _Browser(base, csrf) as browser:
            for turn in range(turns):
                await asyncio.sleep(pauses[index][turn])
                seen.append(await browser.turn(chat_id, _turn(round_, index, turn)))
        return seen

    talks = await asyncio.gather(*(chat(index, chat_id) for index, chat_id in enumerate(chats)))
    return [ttft for chat_ttfts in talks for ttft in chat_ttfts]


async def _csrf_token(base: str) -> str:
    async with httpx.AsyncClient(base_url=base) as client:
        return str((await client.get("/")).cookies["characterlab_csrf"])


class _Browser:
    """One person's connection to the lab, reading each reply's event stream as raw bytes.

    The clients stand for browsers on other machines. On this one their CPU is taken from the model, so they do
    as little as a client can (no HTTP library parsing each event; only the markers are looked for), and what is
    measured is the server's work.
    """

    def __init__(self, base: str, csrf: str) -> None:
        self._address = httpx.URL(base)
        self._csrf = csrf

    async def __aenter__(self) -> _Browser:
        await self._connect()
        return self

    async def _connect(self) -> None:
        assert self._address.port is not None
        self._reader, self._writer = await asyncio.open_connection(self._address.host, self._address.port)

    async def __aexit__(self, *_: object) -> None:
        self._writer.close()
        await self._writer.wait_closed()

    async def turn(self, chat_id: str, text: str) -> float:
        """Post a turn, read its events to the end, and return the seconds to its first draft."""
        body = json.dumps({"text": text}).encode()
        head = (
            f"POST /chats/{chat_id}/send HTTP/1.1\r\nHost: {self._address.netloc.decode()}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Cookie: characterlab_csrf={self._csrf}\r\nX-CSRF-Token: {self._csrf}\r\n\r\n"
        )
        if self._reader.at_eof():  # the server closed the idle connection (keep-alive ran out): a browser reconnects
            self._writer.close()
            await self._connect()
        started = time.perf_counter()
        self._writer.write(head.encode() + body)
        seen: float | None = None
        status = b""
        tail = b""
        while True:
            chunk = await self._reader.read(65536)
            if not chunk:
                raise RuntimeError("the lab closed the connection mid-reply")
            status = status or chunk[:12]
            window = tail + chunk  # a marker may straddle two reads
            if not status.startswith(b"HTTP/1.1 200") or b"event: error" in window:
                raise RuntimeError(f"the lab failed a reply: {window[:300]!r}")
            if seen is None and b"event: draft" in window:
                seen = time.perf_counter() - started
            # The streamed body is chunked and ends with an empty chunk (event data is JSON: no raw CRLF in it).
            if window.endswith(b"\r\n0\r\n\r\n"):
                break
            tail = window[-16:]
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
    csrf = await _csrf_token(base)

    async def ask(chat_id: str, question: str) -> float:
        async with _Browser(base, csrf) as browser:
            return await browser.turn(chat_id, question)

    return list(await asyncio.gather(*(ask(chat, q) for chat, q in zip(chats, questions, strict=True))))


def _serve(store: Store) -> tuple[uvicorn.Server, str]:
    with_socket = uvicorn.Config(create_app(LabSettings(store=store)), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(with_socket)
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


_PEOPLE = (2.0, 10.0)
"""Seconds a person takes to read a reply and write the next turn (the served load)."""
_HURRIED = (0.0, 1.0)
"""... and with the model kept saturated."""


def run(
    model: str, *, count: int = 20, rounds: int = 3, turns: int = 3, pace: tuple[float, float] = _PEOPLE
) -> list[Ratio]:
    """Time to first token (ms) through the lab against the provider directly, ``count`` chats served.

    ``pace``: the served load's range of pauses before a turn (s).
    """
    loaded = get_model(model)  # memoized: the lab's chats get this same provider and engine
    api = loaded.api
    assert isinstance(api, LocalModelAPI)
    loads = ("served", "alone", "saturated", "burst")
    seconds: dict[str, dict[str, list[float]]] = {load: {"direct": [], "lab": []} for load in loads}
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no copy of the loaded model
    with tempfile.TemporaryDirectory() as folder, ProcessPoolExecutor(1, mp_context=spawn) as clients:
        store = Store(f"sqlite:///{Path(folder) / 'lab.db'}")
        server, base = _serve(store)
        try:
            asyncio.run(_direct(api, _questions(2, -1)))  # lazy initialisation on both sides
            _through_lab(clients, base, store, model, _questions(2, -1))
            for round_ in range(rounds):
                # Alternating sides, so that a slow moment of the machine does not land on one side only.
                for load, chats, chat_turns, pauses in (
                    ("served", count, turns, pace),
                    ("alone", 1, 2 * turns, _HURRIED),
                    ("saturated", count, turns, _HURRIED),
                ):
                    timed = seconds[load]
                    timed["direct"] += asyncio.run(_direct_chats(api, chats, chat_turns, round_, pauses))
                    timed["lab"] += _lab_chats(clients, base, store, model, chats, chat_turns, round_, pauses)
                seconds["burst"]["direct"] += asyncio.run(_direct(api, _questions(count, round_)))
                seconds["burst"]["lab"] += _through_lab(clients, base, store, model, _questions(count, round_))
        finally:
            server.should_exit = True
    name = "time to first token through the lab vs the provider directly"
    return [
        # Resampled by what depends on what: a served chat's turns wait on each other (a conversation), a lone
        # chat's turns each have the model to themselves, and a burst's turns all share one instant (a round).
        _ratio(f"{name}, {count} chats served (people pausing 2-10 s)", seconds["served"], turns, "conversations"),
        _ratio(f"{name}, one chat alone", seconds["alone"], 1, "turns"),
        _ratio(
            f"{name}, {count} chats saturating the model (pauses 0-1 s)", seconds["saturated"], turns, "conversations"
        ),
        _ratio(f"{name}, {count} turns sent in the same instant (burst)", seconds["burst"], count, "bursts"),
    ]


def _ratio(name: str, seconds: dict[str, list[float]], cluster: int, clusters: str) -> Ratio:
    """The added time per turn, from turns timed on both sides in the same order (``cluster`` turns in a row
    depend on each other and are resampled together)."""
    lab, direct = np.array(seconds["lab"]) * 1000, np.array(seconds["direct"]) * 1000
    added = lab - direct
    low, high = _clustered_interval(added, cluster)
    return Ratio(
        name,
        float(np.median(lab)),
        float(np.median(direct)),
        "ms",
        50.0,
        "added_at_most",
        f"median of {len(added)} paired turns' differences, 95% interval {low:+.0f} to {high:+.0f} ms (bootstrap "
        f"over {len(added) // cluster} {clusters}); medians {np.median(lab):.0f} vs {np.median(direct):.0f} ms, "
        f"p90 {np.percentile(lab, 90):.0f} vs {np.percentile(direct, 90):.0f} ms",
        paired=float(np.median(added)),
    )


def _clustered_interval(added: np.ndarray, cluster: int, resamples: int = 2000) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the median difference, resampling ``cluster`` turns in a row together."""
    groups = added.reshape(-1, cluster)
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(groups), size=(resamples, len(groups)))
    medians = np.median(groups[picks].reshape(resamples, -1), axis=1)
    low, high = np.percentile(medians, [2.5, 97.5])
    return float(low), float(high)


def main() -> None:
    """Command line: ``python -m bench.web_ttft --model default``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="default", help="characterlab model name (default, base, or a folder)")
    parser.add_argument("--chats", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--turns", type=int, default=3, help="turns of each chat per round")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report(run(f"characterlab/{args.model}", count=args.chats, rounds=args.rounds, turns=args.turns), as_json=args.json)


if __name__ == "__main__":
    main()
