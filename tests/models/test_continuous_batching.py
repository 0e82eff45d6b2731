"""Continuous batching: requests that arrive while others generate join them between steps, with the same tokens."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from inspect_ai.model import ChatMessageUser, GenerateConfig, get_model

from characterlab.models import GenerationRequest, GenerationResult, LocalEngine, LocalModelAPI, load_model
from characterlab.models._batching import ContinuousBatcher

PROMPTS = (
    "Hello",
    "The capital of France is Paris, and the capital of Italy is",
    "Once upon a time",
    "A character is defined by what it values",
)

Outcome = GenerationResult | Exception


@pytest.fixture(scope="module", params=["llama", "gpt2", "gemma3"])
def engine(request: pytest.FixtureRequest) -> LocalEngine:
    folder: Path = request.getfixturevalue(f"tiny_{request.param}")
    return LocalEngine(load_model(str(folder)))


def _requests(engine: LocalEngine, texts: Sequence[str], max_new_tokens: int = 12) -> list[GenerationRequest]:
    return [GenerationRequest(prompt_ids=tuple(engine.encode(text)), max_new_tokens=max_new_tokens) for text in texts]


def _serve_on_schedule(
    engine: LocalEngine, schedule: dict[int, list[GenerationRequest]], *, batch_size: int = 16
) -> tuple[dict[int, Outcome], list[int]]:
    """Run the continuous loop, handing it ``schedule[k]`` at its ``k``-th call for new requests.

    Returns each request's outcome (by ``id``) and the batch size of every decoding step.
    """
    pending = dict(schedule)
    calls = 0
    outcomes: dict[int, Outcome] = {}
    step_sizes: list[int] = []

    def take(room: int, idle: bool) -> list[GenerationRequest]:
        nonlocal calls
        calls += 1
        if idle and pending and calls - 1 not in pending:
            return pending.pop(min(pending))  # everything finished early: hand over the next arrivals now
        return pending.pop(calls - 1, [])

    def deliver(request: GenerationRequest, outcome: Outcome) -> None:
        assert id(request) not in outcomes, "a request was delivered twice"
        outcomes[id(request)] = outcome

    forward = engine.loaded.model.forward

    def counting(*args: Any, **kwargs: Any) -> Any:
        if kwargs["input_ids"].shape[1] == 1:
            step_sizes.append(int(kwargs["input_ids"].shape[0]))
        return forward(*args, **kwargs)

    engine.loaded.model.forward = counting  # type: ignore[method-assign]
    try:
        engine.generate_continuously(take, deliver, batch_size=batch_size)
    finally:
        del engine.loaded.model.forward
    return outcomes, step_sizes


def _tokens(outcome: Outcome) -> tuple[int, ...]:
    assert isinstance(outcome, GenerationResult), outcome
    return outcome.token_ids


def test_arrivals_join_the_running_batch_and_get_the_tokens_they_get_alone(engine: LocalEngine) -> None:
    requests = _requests(engine, PROMPTS)
    outcomes, step_sizes = _serve_on_schedule(engine, {0: requests[:2], 2: requests[2:3], 4: requests[3:]})
    for request in requests:
        assert _tokens(outcomes[id(request)]) == engine.generate([request])[0].token_ids
    if not engine.loaded.model.config.model_type.startswith("gemma3"):
        # Later arrivals ride in the same forward as the rows already running (the tiny Gemma's 8-token window
        # is too short for these prompts to join; they step as a batch of their own, as the next test checks).
        assert max(step_sizes) > 2


def test_short_arrivals_join_a_sliding_window_model_and_stay_exact_past_the_window(gemma3_engine: LocalEngine) -> None:
    # Joined while everything fits the 8-token window, then generated well past it (the window layers trim
    # their cache): the shorter cache is padded on the left, so each row's window stays on its own tokens.
    bos = tuple(gemma3_engine.encode(""))
    requests = [
        GenerationRequest(prompt_ids=(*bos, *ids), max_new_tokens=16, logprobs=True)
        for ids in [(40,), (41, 42), (43,), (44, 45)]
    ]
    outcomes, step_sizes = _serve_on_schedule(gemma3_engine, {0: requests[:1], 3: requests[1:3], 4: requests[3:]})
    assert max(step_sizes) == 4
    for request in requests:
        joined, alone = outcomes[id(request)], gemma3_engine.generate([request])[0]
        assert _tokens(joined) == alone.token_ids
        assert isinstance(joined, GenerationResult)
        assert [lp.logprob for lp in joined.logprobs] == pytest.approx([lp.logprob for lp in alone.logprobs], abs=1e-4)


def test_a_full_loop_takes_no_more_until_rows_finish(engine: LocalEngine) -> None:
    requests = _requests(engine, PROMPTS, max_new_tokens=4)
    outcomes, step_sizes = _serve_on_schedule(engine, {0: requests[:2], 1: requests[2:]}, batch_size=2)
    assert max(step_sizes) <= 2
    assert [_tokens(outcomes[id(r)]) for r in requests] == [engine.generate([r])[0].token_ids for r in requests]


def test_a_bad_request_fails_alone(engine: LocalEngine) -> None:
    good = _requests(engine, PROMPTS[:2])
    bad = GenerationRequest(prompt_ids=tuple(engine.encode("Hi")), max_new_tokens=4, temperature=-1.0)
    outcomes, _ = _serve_on_schedule(engine, {0: [good[0], bad], 1: [good[1]]})
    assert isinstance(outcomes[id(bad)], ValueError)
    assert all(isinstance(outcomes[id(request)], GenerationResult) for request in good)


def test_an_error_mid_step_fails_only_the_rows_generated_together(
    llama_engine: LocalEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = _requests(llama_engine, PROMPTS[:2], max_new_tokens=20)
    real_advance = llama_engine._advance
    failing = {"armed": True}

    def advance(group: Any) -> None:
        # The first group's third step fails; the second group (joined later or apart) must be unaffected.
        if failing["armed"] and any(row.request is first for row in group.rows) and len(group.rows[0].tokens) == 3:
            failing["armed"] = False
            raise RuntimeError("the device fell over")
        real_advance(group)

    monkeypatch.setattr(llama_engine, "_advance", advance)
    monkeypatch.setattr(llama_engine, "_merge", lambda *args: False)  # keep the two apart
    outcomes, _ = _serve_on_schedule(llama_engine, {0: [first], 1: [second]})
    assert isinstance(outcomes[id(first)], RuntimeError)
    assert isinstance(outcomes[id(second)], GenerationResult)


@pytest.fixture(scope="module")
def llama_engine(tiny_llama: Path) -> LocalEngine:
    return LocalEngine(load_model(str(tiny_llama)))


@pytest.fixture(scope="module")
def gemma3_engine(tiny_gemma3: Path) -> LocalEngine:
    return LocalEngine(load_model(str(tiny_gemma3)))


# --- the asyncio side ------------------------------------------------------------------------------------------


def _echo_loop(steps: int, step_s: float, joined: list[str] | None = None) -> Callable[[Any, Any], None]:
    """A stand-in engine loop: every request takes ``steps`` steps; new ones are taken between steps (and listed
    in ``joined`` when others were running then)."""

    def serve(take: Callable[[int, bool], Sequence[str]], deliver: Callable[[str, Any], None]) -> None:
        running: dict[str, int] = {}
        while True:
            for request in take(16 - len(running), not running):
                if running and joined is not None:
                    joined.append(request)
                running[request] = 0
            if not running:
                return
            time.sleep(step_s)
            for request in list(running):
                running[request] += 1
                if running[request] == steps:
                    del running[request]
                    deliver(request, f"done {request}")

    return serve


def test_a_request_arriving_while_the_loop_runs_is_handed_to_that_loop() -> None:
    joined: list[str] = []
    batcher: ContinuousBatcher[str, str] = ContinuousBatcher(
        _echo_loop(steps=10, step_s=0.05, joined=joined), batch_size=16, wait_s=0
    )

    async def main() -> list[str]:
        early = asyncio.create_task(batcher.submit("early"))
        while not batcher.batch_sizes:  # the early request has been taken in: the loop is running
            await asyncio.sleep(0.005)
        return [await batcher.submit("late"), await early]

    assert asyncio.run(main()) == ["done late", "done early"]
    # The late request was taken at a step of the running one, not in a batch of its own afterwards.
    assert joined == ["late"] and batcher.batch_sizes == [1, 1]


def test_a_burst_that_keeps_arriving_starts_as_one_batch_up_to_the_longest_wait() -> None:
    def burst(spacing_s: float, max_wait_s: float) -> list[int]:
        batcher: ContinuousBatcher[str, str] = ContinuousBatcher(
            _echo_loop(steps=1, step_s=0.001), batch_size=16, wait_s=0.3, max_wait_s=max_wait_s
        )

        async def ask(index: int) -> str:
            await asyncio.sleep(spacing_s * index)
            return await batcher.submit(f"r{index}")

        async def main() -> list[str]:
            return list(await asyncio.gather(*(ask(index) for index in range(6))))

        assert asyncio.run(main()) == [f"done r{index}" for index in range(6)]
        return batcher.batch_sizes

    # Each arrives well within the 300 ms quiet gap of the one before: one batch, though they span 0.5 s.
    assert burst(spacing_s=0.1, max_wait_s=10.0) == [6]
    assert len(burst(spacing_s=0.1, max_wait_s=0.05)) > 1  # the first may not wait past 50 ms


def test_the_serving_thread_ends_when_idle_and_restarts_on_another_loop() -> None:
    batcher: ContinuousBatcher[str, str] = ContinuousBatcher(_echo_loop(steps=2, step_s=0.001), batch_size=4, wait_s=0)

    async def ask_many() -> list[str]:
        return list(await asyncio.gather(*(batcher.submit(f"r{i}") for i in range(6))))

    assert asyncio.run(ask_many()) == [f"done r{i}" for i in range(6)]
    assert asyncio.run(ask_many()) == [f"done r{i}" for i in range(6)]  # a new event loop, a new thread
    assert sum(batcher.batch_sizes) == 12


def test_a_failing_loop_fails_its_callers_and_the_next_call_starts_afresh() -> None:
    calls = {"count": 0}

    def serve(take: Callable[[int, bool], Sequence[str]], deliver: Callable[[str, Any], None]) -> None:
        calls["count"] += 1
        taken = take(4, True)
        if calls["count"] == 1:
            raise RuntimeError("the engine broke")
        for request in taken:
            deliver(request, request.upper())
        assert not take(4, True)

    batcher: ContinuousBatcher[str, str] = ContinuousBatcher(serve, batch_size=4, wait_s=0.01)

    async def ask(request: str) -> str:
        return await batcher.submit(request)

    with pytest.raises(RuntimeError, match="the engine broke"):
        asyncio.run(ask("a"))
    assert asyncio.run(ask("b")) == "B"


# --- through the provider --------------------------------------------------------------------------------------


def test_a_reply_asked_mid_generation_streams_before_the_running_one_ends(tiny_llama: Path) -> None:
    model = get_model(f"characterlab/{tiny_llama}", memoize=False, batch_wait_ms=0)
    api = model.api
    assert isinstance(api, LocalModelAPI)
    events: list[str] = []

    async def main() -> None:
        long_started = asyncio.Event()

        def long_text(_: str) -> None:
            long_started.set()

        long_reply = asyncio.create_task(
            api.generate_streaming(
                [ChatMessageUser(content="Tell me a long story.")], GenerateConfig(max_tokens=120), long_text
            )
        )
        await long_started.wait()
        short = await model.generate("Hi", config=GenerateConfig(max_tokens=2))
        events.append("short done" if not long_reply.done() else "short after long")
        assert short.completion is not None
        long_output = await long_reply
        assert long_output.choices[0].stop_reason == "max_tokens"  # it really was still running

    asyncio.run(main())
    assert events == ["short done"]
