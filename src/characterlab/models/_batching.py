"""Gathering concurrent calls (generation, option scoring) into batches for one blocking engine.

Inspect calls a provider's ``generate`` once per sample, concurrently (and studies score options the same way).
A local model is much faster on a batch than on the same prompts one at a time, so each call leaves its request
here and awaits a future.

Option scoring (:class:`Batcher`): a worker task collects the requests that arrive within a short window (or
until the batch is full), runs them through the engine in a worker thread, and hands each caller its own result.
Batches run one at a time, so a batch that fills up while another runs waits for it rather than queueing on the
engine's lock.

Generation (:class:`ContinuousBatcher`): a reply takes many steps, and a request that came a moment after a batch
started should not wait for that whole batch to finish. A serving thread runs the engine's continuous loop; each
step it hands over what has arrived, which joins the running batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["Batcher", "ContinuousBatcher"]

_Request = TypeVar("_Request")
_Result = TypeVar("_Result")


@dataclass
class _Pending(Generic[_Request, _Result]):
    request: _Request
    future: asyncio.Future[_Result]
    arrived: float = field(default_factory=time.monotonic)


class Batcher(Generic[_Request, _Result]):
    """Serve concurrent requests in batches of up to ``batch_size``.

    Args:
        run_batch: Blocking function that serves a batch of requests, returning results in order. It is
            called in a worker thread.
        batch_size: The most requests run together.
        wait_s: How long the first request of a batch waits for company before the batch starts.
    """

    def __init__(
        self, run_batch: Callable[[Sequence[_Request]], list[_Result]], *, batch_size: int, wait_s: float
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self._run_batch = run_batch
        self._batch_size = batch_size
        self._wait_s = max(0.0, wait_s)
        self._pending: list[_Pending[_Request, _Result]] = []
        self._worker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._full: asyncio.Event | None = None
        self.batch_sizes: list[int] = []
        """The size of every batch run so far, in order (for tests and benchmarks)."""

    async def submit(self, request: _Request) -> _Result:
        """Queue one request and wait for its result.

        Raises:
            Exception: whatever the engine raised for the batch this request was in.
        """
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A new event loop (e.g. a second ``asyncio.run`` around a memoized model): futures and tasks of the
            # old loop cannot be awaited here, so start afresh.
            self._loop, self._pending, self._worker, self._full = loop, [], None, asyncio.Event()
        assert self._full is not None
        pending: _Pending[_Request, _Result] = _Pending(request, loop.create_future())
        self._pending.append(pending)
        if len(self._pending) >= self._batch_size:
            self._full.set()
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._serve())
        return await pending.future

    async def _serve(self) -> None:
        assert self._full is not None
        while self._pending:
            remaining = self._pending[0].arrived + self._wait_s - time.monotonic()
            if len(self._pending) < self._batch_size and remaining > 0:
                self._full.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), timeout=remaining)
            batch = self._pending[: self._batch_size]
            del self._pending[: self._batch_size]
            if len(self._pending) < self._batch_size:
                self._full.clear()
            # A caller cancelled while waiting (e.g. Inspect's timeout) needs no result; skip its work.
            batch = [item for item in batch if not item.future.done()]
            if not batch:
                continue
            self.batch_sizes.append(len(batch))
            try:
                results = await asyncio.to_thread(self._run_batch, [item.request for item in batch])
            except Exception as error:
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(error)
                continue
            for item, result in zip(batch, results, strict=True):
                if not item.future.done():
                    item.future.set_result(result)


Take = Callable[[int, bool], Sequence[_Request]]
"""``take(room, idle)``: up to ``room`` waiting requests; with ``idle`` it may wait for them (see the engine)."""
Deliver = Callable[[_Request, _Result | Exception], None]
"""``deliver(request, outcome)``: a request's result, or the error that ended it."""


@dataclass
class _Waiting(Generic[_Request, _Result]):
    request: _Request
    future: asyncio.Future[_Result]
    loop: asyncio.AbstractEventLoop
    arrived: float = field(default_factory=time.monotonic)


class ContinuousBatcher(Generic[_Request, _Result]):
    """Serve concurrent requests through a loop that takes new ones between steps (continuous batching).

    A serving thread starts with the first request and ends when nothing is waiting or running, so an idle
    provider holds no thread. Requests may come from several event loops (an eval and the web lab); each result
    is handed back on its caller's loop.

    Args:
        serve: Blocking loop, e.g. ``LocalEngine.generate_continuously``: it calls ``take`` for new requests and
            ``deliver`` once per request, and returns when ``take`` answers nothing while it is idle.
        batch_size: The most requests a first batch waits for.
        wait_s: When nothing is running yet, a first batch starts once no request has arrived for this long (or
            when it is full). While a batch runs, arrivals are taken at the next step without waiting.
        max_wait_s: A first batch starts at the latest this long after its first request, however steadily
            others keep arriving.
    """

    def __init__(
        self,
        serve: Callable[[Take[_Request], Deliver[_Request, _Result]], None],
        *,
        batch_size: int,
        wait_s: float,
        max_wait_s: float | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self._serve = serve
        self._batch_size = batch_size
        self._wait_s = max(0.0, wait_s)
        self._max_wait_s = self._wait_s if max_wait_s is None else max(self._wait_s, max_wait_s)
        self._condition = threading.Condition()
        self._waiting: deque[_Waiting[_Request, _Result]] = deque()
        self._in_flight: dict[int, _Waiting[_Request, _Result]] = {}
        self._serving = False
        self.batch_sizes: list[int] = []
        """How many requests each hand-over gave the engine, in order (for tests and benchmarks)."""

    async def submit(self, request: _Request) -> _Result:
        """Queue one request and wait for its result.

        Raises:
            Exception: whatever the engine raised while generating this request.
        """
        loop = asyncio.get_running_loop()
        waiting: _Waiting[_Request, _Result] = _Waiting(request, loop.create_future(), loop)
        with self._condition:
            self._waiting.append(waiting)
            self._condition.notify_all()
            start, self._serving = not self._serving, True
        if start:
            threading.Thread(target=self._run, name="characterlab-generation", daemon=True).start()
        return await waiting.future

    def _run(self) -> None:
        try:
            self._serve(self._take, self._deliver)
        except Exception as error:
            # The loop itself failed (not one request): fail everything it held, and let the next submit restart.
            with self._condition:
                stranded = [*self._in_flight.values(), *self._waiting]
                self._in_flight.clear()
                self._waiting.clear()
                self._serving = False
            for waiting in stranded:
                _settle(waiting, error)

    def _take(self, room: int, idle: bool) -> list[_Request]:
        with self._condition:
            if idle and self._waiting:
                # Requests that come in a burst (chats in a lab, each after its own HTTP handling) start together:
                # the batch waits while they keep arriving, since one that just misses it waits a whole step.
                latest = self._waiting[0].arrived + self._max_wait_s
                while len(self._waiting) < min(room, self._batch_size):
                    remaining = min(self._waiting[-1].arrived + self._wait_s, latest) - time.monotonic()
                    if remaining <= 0:
                        break
                    self._condition.wait(remaining)
            taken: list[_Waiting[_Request, _Result]] = []
            while self._waiting and len(taken) < room:
                waiting = self._waiting.popleft()
                # A caller cancelled while waiting (e.g. Inspect's timeout) needs no result; skip its work.
                if not waiting.future.cancelled():
                    taken.append(waiting)
            if idle and not taken:
                self._serving = False  # under the lock: a submit from now on starts a new serving thread
                return []
            for waiting in taken:
                self._in_flight[id(waiting.request)] = waiting
            if taken:
                self.batch_sizes.append(len(taken))
            return [waiting.request for waiting in taken]

    def _deliver(self, request: _Request, outcome: _Result | Exception) -> None:
        with self._condition:
            waiting = self._in_flight.pop(id(request), None)
        if waiting is not None:
            _settle(waiting, outcome)


def _settle(waiting: _Waiting[_Request, _Result], outcome: _Result | Exception) -> None:
    """Hand ``outcome`` to the waiting caller on its own event loop."""

    def settle() -> None:
        if waiting.future.done():
            return
        if isinstance(outcome, Exception):
            waiting.future.set_exception(outcome)
        else:
            waiting.future.set_result(outcome)

    # The caller's loop may have closed (an ``asyncio.run`` that ended); nobody waits for the result then.
    with contextlib.suppress(RuntimeError):
        waiting.loop.call_soon_threadsafe(settle)
