"""The local engine on tiny random models: batching, sampling, stops, option scores, activations and steering."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from characterlab.models import (
    ActivationSpec,
    GenerationRequest,
    LocalEngine,
    SteeringVector,
    load_model,
)
from characterlab.models._decoder_blocks import block_hidden, decoder_blocks, replace_block_hidden
from characterlab.models._engine import _generation_batches
from characterlab.models._steering import SteeringHooks

PROMPTS = (
    "Hello",
    "The capital of France is Paris, and the capital of Italy is",
    "Once upon a time",
    "A character is defined by what it values",
)


@pytest.fixture(scope="module")
def llama(tiny_llama: Path) -> LocalEngine:
    return LocalEngine(load_model(str(tiny_llama)))


@pytest.fixture(scope="module")
def gpt2(tiny_gpt2: Path) -> LocalEngine:
    return LocalEngine(load_model(str(tiny_gpt2)))


@pytest.fixture(scope="module")
def gemma3(tiny_gemma3: Path) -> LocalEngine:
    return LocalEngine(load_model(str(tiny_gemma3)))


@pytest.fixture(params=["llama", "gpt2", "gemma3"])
def engine(request: pytest.FixtureRequest) -> LocalEngine:
    found: LocalEngine = request.getfixturevalue(request.param)
    return found


@pytest.fixture(params=["llama", "gpt2"])
def full_attention(request: pytest.FixtureRequest) -> LocalEngine:
    """The engines whose every layer attends to the whole context (no sliding window)."""
    found: LocalEngine = request.getfixturevalue(request.param)
    return found


def _prompt(engine: LocalEngine, text: str) -> tuple[int, ...]:
    return tuple(engine.encode(text))


def _model(engine: LocalEngine) -> Any:
    return engine.loaded.model


def _logits(engine: LocalEngine, ids: tuple[int, ...]) -> torch.Tensor:
    with torch.no_grad():
        logits: torch.Tensor = _model(engine)(torch.tensor([ids])).logits[0]
    return logits


def _block_outputs(engine: LocalEngine, layer: int, ids: tuple[int, ...]) -> torch.Tensor:
    """What block ``layer`` hands on (seen by a hook registered after any steering hook)."""
    seen: list[torch.Tensor] = []
    handle = decoder_blocks(_model(engine))[layer].register_forward_hook(
        lambda module, args, output: seen.append(block_hidden(output).detach().clone())
    )
    try:
        _logits(engine, ids)
    finally:
        handle.remove()
    return seen[0][0]


def _no_hooks_left(engine: LocalEngine) -> bool:
    return all(not block._forward_hooks for block in decoder_blocks(_model(engine)))


# --- tokens ----------------------------------------------------------------------------------------------------


def test_encode_decode_and_count(llama: LocalEngine) -> None:
    ids = llama.encode("Hello world")
    assert ids[0] == llama.loaded.tokenizer.bos_token_id
    assert llama.decode(ids) == "Hello world"
    assert llama.count_tokens("Hello world") == len(ids) - 1
    assert llama.encode("Hello world", add_special_tokens=False) == ids[1:]


def test_chat_prompt_ids_apply_the_template(llama: LocalEngine, gpt2: LocalEngine) -> None:
    ids = llama.chat_prompt_ids([{"role": "user", "content": "Hi"}])
    assert llama.decode(ids, skip_special_tokens=False) == "<|bos|><|user|>\nHi<|eos|>\n<|assistant|>\n"
    with pytest.raises(ValueError, match="no chat template"):
        gpt2.chat_prompt_ids([{"role": "user", "content": "Hi"}])


# --- generation ------------------------------------------------------------------------------------------------


def test_greedy_batched_equals_unbatched_and_transformers(engine: LocalEngine) -> None:
    requests = [GenerationRequest(prompt_ids=_prompt(engine, text), max_new_tokens=10) for text in PROMPTS]
    batched = engine.generate(requests)
    in_pairs = engine.generate(requests, batch_size=3)
    alone = [engine.generate([request])[0] for request in requests]
    for request, together, paired, single in zip(requests, batched, in_pairs, alone, strict=True):
        assert together.token_ids == single.token_ids == paired.token_ids
        assert together.text == single.text
        assert together.prompt_tokens == len(request.prompt_ids)
        expected = _model(engine).generate(torch.tensor([request.prompt_ids]), max_new_tokens=10, do_sample=False)[
            0, len(request.prompt_ids) :
        ]
        assert list(together.token_ids) == expected.tolist()[: len(together.token_ids)]


def test_a_shared_opening_is_read_once_with_the_same_results(full_attention: LocalEngine) -> None:
    engine = full_attention
    # A long common opening (as a character's frame is), different endings of different lengths.
    opening = list(_prompt(engine, " ".join(PROMPTS) * 3))
    assert len(opening) >= 64
    endings = [_prompt(engine, text)[1:] for text in PROMPTS]
    requests = [GenerationRequest(prompt_ids=(*opening, *ending), max_new_tokens=8) for ending in endings]
    sampled = [
        GenerationRequest(prompt_ids=request.prompt_ids, max_new_tokens=8, temperature=1.0, seed=3)
        for request in requests
    ]
    calls: list[int] = []
    forward = engine.loaded.model.forward

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(int(kwargs["input_ids"].shape[1]))
        return forward(*args, **kwargs)

    engine.loaded.model.forward = counting  # type: ignore[method-assign]
    try:
        together = engine.generate(requests)
        together_sampled = engine.generate(sampled)
    finally:
        del engine.loaded.model.forward
    assert calls[0] == len(opening)  # the opening alone, once for the whole batch
    assert calls[1] == max(len(ending) for ending in endings)
    alone = [engine.generate([request])[0] for request in requests]
    alone_sampled = [engine.generate([request])[0] for request in sampled]
    assert [r.token_ids for r in together] == [r.token_ids for r in alone]
    assert [r.token_ids for r in together_sampled] == [r.token_ids for r in alone_sampled]


def test_batches_keep_alike_openings_together_and_padding_low() -> None:
    frame = list(range(100))
    long_a, long_b = [*frame, 1, 2, 3], [*frame, 4, 5]
    short = [[7, 8], [9], [10, 11, 12]]
    batches = _generation_batches([short[0], long_a, short[1], long_b, short[2]], batch_size=16)
    assert [1, 3] in map(sorted, batches)  # the long prompts share their opening and a batch
    assert all(not ({1, 3} & set(batch) and {0, 2, 4} & set(batch)) for batch in batches)  # short ones apart
    assert [len(batch) for batch in _generation_batches([frame] * 5, batch_size=2)] == [2, 2, 1]


def test_max_tokens(engine: LocalEngine) -> None:
    result = engine.generate([GenerationRequest(prompt_ids=_prompt(engine, "Once"), max_new_tokens=3)])[0]
    if result.finish_reason == "max_tokens":
        assert len(result.token_ids) == 3
    else:  # the random model chose its end token early
        assert result.token_ids[-1] in (engine.loaded.tokenizer.eos_token_id,)


def test_penalties_stop_repetition_and_leave_logprobs_alone(engine: LocalEngine) -> None:
    prompt = _prompt(engine, "Once upon a time")
    plain = engine.generate([GenerationRequest(prompt_ids=prompt, max_new_tokens=24, logprobs=True)])[0]
    penalised = engine.generate(
        [GenerationRequest(prompt_ids=prompt, max_new_tokens=24, logprobs=True, presence_penalty=1e4)]
    )[0]
    body = [t for t in penalised.token_ids if t not in (engine.loaded.tokenizer.eos_token_id,)]
    assert len(body) == len(set(body))  # a huge presence penalty forbids any token a second time
    assert len(plain.token_ids) > len(set(plain.token_ids))  # without it, the random model repeats itself
    first_plain, first_penalised = plain.logprobs[0], penalised.logprobs[0]
    assert first_plain.token_id == first_penalised.token_id  # nothing generated yet, nothing penalised
    assert first_plain.logprob == pytest.approx(first_penalised.logprob)


def test_frequency_penalty_grows_with_each_repeat() -> None:
    from characterlab.models._sampling import apply_penalties

    logits = torch.zeros(5)
    request = GenerationRequest(prompt_ids=(1,), frequency_penalty=0.5, presence_penalty=1.0)
    penalised = apply_penalties(logits, request, [2, 2, 3])
    assert penalised.tolist() == [0.0, 0.0, -2.0, -1.5, 0.0]
    assert apply_penalties(logits, GenerationRequest(prompt_ids=(1,)), [2]) is logits


def test_seeded_sampling_is_reproducible_and_independent_of_the_batch(engine: LocalEngine) -> None:
    def sampled(text: str, seed: int | None) -> GenerationRequest:
        return GenerationRequest(
            prompt_ids=_prompt(engine, text), max_new_tokens=12, temperature=1.0, top_p=0.95, top_k=40, seed=seed
        )

    target = sampled(PROMPTS[1], seed=7)
    alone = engine.generate([target])[0]
    again = engine.generate([target])[0]
    crowded = engine.generate([sampled(PROMPTS[0], 1), target, sampled(PROMPTS[2], 2), sampled(PROMPTS[3], None)])
    assert alone.token_ids == again.token_ids == crowded[1].token_ids
    other_seeds = {engine.generate([sampled(PROMPTS[1], seed)])[0].token_ids for seed in range(4)}
    assert len(other_seeds) > 1
    greedy = engine.generate([GenerationRequest(prompt_ids=target.prompt_ids, max_new_tokens=12)])[0]
    assert alone.token_ids != greedy.token_ids


def test_top_k_one_is_greedy(engine: LocalEngine) -> None:
    prompt = _prompt(engine, PROMPTS[2])
    greedy = engine.generate([GenerationRequest(prompt_ids=prompt, max_new_tokens=8)])[0]
    top1 = engine.generate([GenerationRequest(prompt_ids=prompt, max_new_tokens=8, temperature=2.0, top_k=1, seed=3)])
    assert top1[0].token_ids == greedy.token_ids


def test_stop_sequence_cuts_the_text(engine: LocalEngine) -> None:
    prompt = _prompt(engine, PROMPTS[1])
    free = engine.generate([GenerationRequest(prompt_ids=prompt, max_new_tokens=16)])[0]
    # A stop sequence taken from the middle of what the model writes anyway.
    stop = free.text[4:6]
    assert stop
    stopped = engine.generate(
        [
            GenerationRequest(prompt_ids=prompt, max_new_tokens=16, stop_sequences=(stop,)),
            GenerationRequest(prompt_ids=_prompt(engine, "Hello"), max_new_tokens=16),
        ]
    )[0]
    assert stopped.finish_reason == "stop"
    assert stopped.text == free.text[: free.text.index(stop)]
    assert stop not in stopped.text
    assert len(stopped.token_ids) < len(free.token_ids)
    assert free.token_ids[: len(stopped.token_ids)] == stopped.token_ids


def test_logprobs_match_the_model(engine: LocalEngine) -> None:
    prompt = _prompt(engine, PROMPTS[0])
    result = engine.generate([GenerationRequest(prompt_ids=prompt, max_new_tokens=5, logprobs=True, top_logprobs=3)])[0]
    assert len(result.logprobs) == len(result.token_ids)
    full = torch.log_softmax(_logits(engine, prompt + result.token_ids).float(), dim=-1)
    for step, entry in enumerate(result.logprobs):
        position = len(prompt) + step - 1
        assert entry.token_id == result.token_ids[step]
        assert entry.logprob == pytest.approx(float(full[position, entry.token_id]), abs=1e-4)
        assert len(entry.top) == 3
        assert entry.top[0][1] == pytest.approx(entry.logprob, abs=1e-6)  # greedy: the chosen token is the best
        assert [value for _, value in entry.top] == sorted((value for _, value in entry.top), reverse=True)


def test_impossible_requests_are_rejected(llama: LocalEngine) -> None:
    with pytest.raises(ValueError, match="temperature"):
        llama.generate([GenerationRequest(prompt_ids=(1, 2), temperature=-1)])
    with pytest.raises(ValueError, match="prompt token"):
        llama.generate([GenerationRequest(prompt_ids=())])
    with pytest.raises(ValueError, match="out of range"):
        llama.generate([GenerationRequest(prompt_ids=(1,), activations=ActivationSpec(layers=(3,)))])


def test_concurrent_calls_are_serialised(llama: LocalEngine) -> None:
    requests = [GenerationRequest(prompt_ids=_prompt(llama, text), max_new_tokens=6) for text in PROMPTS]
    expected = llama.generate(requests)
    results: list[list[Any]] = [[], []]

    def worker(slot: int) -> None:
        results[slot] = llama.generate(requests)

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.token_ids for r in results[0]] == [r.token_ids for r in results[1]] == [r.token_ids for r in expected]


# --- option scoring --------------------------------------------------------------------------------------------


def _hand_score(engine: LocalEngine, context: str, option: str) -> float:
    """lm-evaluation-harness's recipe, from one full-sequence forward: log_softmax, then gather."""
    stripped = context.rstrip()
    option = context[len(stripped) :] + option
    context_ids = engine.encode(stripped)
    continuation = engine.encode(stripped + option)[len(context_ids) :]
    ids = tuple(context_ids + continuation)
    logprobs = torch.log_softmax(_logits(engine, ids).float(), dim=-1)
    positions = torch.arange(len(context_ids) - 1, len(ids) - 1)
    return float(logprobs[positions, torch.tensor(continuation)].sum())


def test_option_scores_equal_a_hand_computation(engine: LocalEngine) -> None:
    items = [
        ("The capital of France is ", ["Paris", "Rome", "a big old city by the river"]),
        ("Q: Is the sky blue?\nA:", [" yes", " no"]),
        ("Once upon a time there was a little robot who wanted to learn", [" how to paint.", " nothing"]),
    ]
    scores = engine.score_options_batch(items, batch_size=2)
    for (context, options), scored in zip(items, scores, strict=True):
        for option, logprob in zip(options, scored.logprobs, strict=True):
            assert logprob == pytest.approx(_hand_score(engine, context, option), abs=1e-3)
        assert sum(scored.probabilities) == pytest.approx(1.0)
        assert scored.best == max(range(len(options)), key=scored.logprobs.__getitem__)
    # The whitespace rule: the context's trailing space moved into every option.
    assert scores[0].options == (" Paris", " Rome", " a big old city by the river")
    assert scores[1].options == (" yes", " no")
    assert scores[0].token_counts[2] > scores[0].token_counts[0]
    single = engine.score_options(*items[0])
    assert single.logprobs == pytest.approx(scores[0].logprobs, abs=1e-4)


def test_the_shared_context_is_read_once(llama: LocalEngine) -> None:
    context = PROMPTS[1]
    context_ids = llama.encode(context)
    options = [" Rome", " Paris, France"]
    option_lengths = [len(llama.encode(context + option)) - len(context_ids) for option in options]
    read: list[int] = []
    handle = decoder_blocks(_model(llama))[0].register_forward_hook(
        lambda module, args, output: read.append(block_hidden(output).shape[0] * block_hidden(output).shape[1])
    )
    try:
        llama.score_options(context, options)
    finally:
        handle.remove()
    # One pass over the context, then each option's tokens but the last (its log-prob comes from the one before),
    # right-padded to the longest option.
    assert sum(read) == len(context_ids) + len(options) * (max(option_lengths) - 1)
    independent = sum(len(context_ids) + length for length in option_lengths)
    assert sum(read) < 0.75 * independent


def test_scoring_reads_a_shared_opening_once_with_the_same_scores(full_attention: LocalEngine) -> None:
    engine = full_attention
    # A character's frame asked many questions: the contexts share a long opening.
    opening = " ".join(PROMPTS) * 3
    assert len(_prompt(engine, opening)) >= 64
    items = [(f"{opening}\nQ: {text}\nA:", [" yes", " no", " it depends"]) for text in PROMPTS]
    calls: list[int] = []
    forward = engine.loaded.model.forward

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(int(kwargs["input_ids"].shape[1]))
        return forward(*args, **kwargs)

    engine.loaded.model.forward = counting  # type: ignore[method-assign]
    try:
        together = engine.score_options_batch(items)
    finally:
        del engine.loaded.model.forward
    first, *others = [_prompt(engine, context) for context, _ in items]
    shared = next(i for i, token in enumerate(first) if any(other[i] != token for other in others))
    assert calls[0] == shared  # the opening alone, once for the whole batch
    assert calls[1] < len(_prompt(engine, items[0][0])) - 60  # then only each context's own rest
    for (context, options), scored in zip(items, together, strict=True):
        alone = engine.score_options(context, options)
        assert scored.logprobs == pytest.approx(alone.logprobs, abs=1e-4)


def _forward_widths(engine: LocalEngine) -> tuple[list[int], Any]:
    calls: list[int] = []
    forward = engine.loaded.model.forward

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(int(kwargs["input_ids"].shape[1]))
        return forward(*args, **kwargs)

    engine.loaded.model.forward = counting  # type: ignore[method-assign]
    return calls, lambda: delattr(engine.loaded.model, "forward")


def test_a_sliding_window_shares_an_opening_only_where_padding_cannot_fall_inside_it(gemma3: LocalEngine) -> None:
    # The padding of a shared opening sits between it and each row's rest; a sliding-window layer would count it
    # inside its window (8 tokens in the tiny model) and see fewer real tokens than the prompt alone gives.
    opening = list(_prompt(gemma3, " ".join(PROMPTS) * 3))
    uneven = [GenerationRequest(prompt_ids=(*opening, *_prompt(gemma3, t)[1:]), max_new_tokens=6) for t in PROMPTS]
    even = [GenerationRequest(prompt_ids=(*opening, 40 + i, 41 + i), max_new_tokens=6) for i in range(4)]
    items = [(" ".join(PROMPTS) * 3 + f"\nQ: {text}\nA:", [" yes", " no", " it depends"]) for text in PROMPTS]
    calls, restore = _forward_widths(gemma3)
    try:
        uneven_together = gemma3.generate(uneven)
        assert calls[0] == max(len(r.prompt_ids) for r in uneven)  # read whole: rests differ in length
        calls.clear()
        even_together = gemma3.generate(even)
        assert calls[:2] == [len(opening), 2]  # no padding anywhere: the opening is read once
        scored = gemma3.score_options_batch(items)
    finally:
        restore()
    for together, request in zip([*uneven_together, *even_together], [*uneven, *even], strict=True):
        assert together.token_ids == gemma3.generate([request])[0].token_ids
    for (context, options), together_scores in zip(items, scored, strict=True):
        assert together_scores.logprobs == pytest.approx(gemma3.score_options(context, options).logprobs, abs=1e-4)


def test_scoring_needs_options(llama: LocalEngine) -> None:
    with pytest.raises(ValueError, match="no options"):
        llama.score_options("Hello", [])
    with pytest.raises(ValueError, match="adds no tokens"):
        llama.score_options("Hello", [""])


# --- activations -----------------------------------------------------------------------------------------------


def test_capture_shapes_and_padding_does_not_leak(engine: LocalEngine) -> None:
    prompts = [_prompt(engine, text) for text in PROMPTS]
    hidden = engine.loaded.hidden_size
    last = engine.capture(prompts, ActivationSpec(layers=(0, -1), reduction="last_prompt_token"))
    every = engine.capture(prompts, ActivationSpec(layers=(0, -1), reduction="all_tokens"), batch_size=4)
    for prompt, reduced, full in zip(prompts, last, every, strict=True):
        assert set(reduced) == {0, -1}
        assert reduced[-1].shape == (hidden,)
        assert full[-1].shape == (len(prompt), hidden)
        assert reduced[-1].dtype == torch.float32 and reduced[-1].device.type == "cpu"
        assert torch.allclose(full[-1][-1], reduced[-1], rtol=1e-4, atol=1e-4)
    # The shortest prompt was padded in the batch above; alone it has no padding.
    shortest = min(range(len(prompts)), key=lambda index: len(prompts[index]))
    alone = engine.capture([prompts[shortest]], ActivationSpec(layers=(0, -1), reduction="all_tokens"))[0]
    for layer in (0, -1):
        assert torch.allclose(alone[layer], every[shortest][layer], rtol=1e-4, atol=1e-4)


def test_captured_states_are_block_outputs(llama: LocalEngine, tiny_llama: Path) -> None:
    prompt = _prompt(llama, PROMPTS[1])
    captured = llama.capture([prompt], ActivationSpec(layers=(1,), reduction="all_tokens"))[0][1]
    # A separate copy: transformers leaves its own hooks on the blocks once hidden states were asked for.
    copy: Any = load_model(str(tiny_llama)).model
    with torch.no_grad():
        states = copy(torch.tensor([prompt]), output_hidden_states=True).hidden_states
    assert torch.allclose(captured, states[2][0], atol=1e-5)


def test_mean_response_needs_generation(llama: LocalEngine) -> None:
    with pytest.raises(ValueError, match="mean_response"):
        llama.capture([(1, 2, 3)], ActivationSpec(layers=(0,), reduction="mean_response"))


def test_activations_alongside_generation(engine: LocalEngine) -> None:
    prompts = [_prompt(engine, text) for text in PROMPTS[:3]]
    hidden = engine.loaded.hidden_size

    def requests(reduction: Any) -> list[GenerationRequest]:
        spec = ActivationSpec(layers=(0, -1), reduction=reduction)
        return [GenerationRequest(prompt_ids=prompt, max_new_tokens=6, activations=spec) for prompt in prompts]

    last = engine.generate(requests("last_prompt_token"))
    mean = engine.generate(requests("mean_response"))
    every = engine.generate(requests("all_tokens"))
    plain = engine.generate([GenerationRequest(prompt_ids=prompt, max_new_tokens=6) for prompt in prompts])
    captured = engine.capture(prompts, ActivationSpec(layers=(0, -1), reduction="all_tokens"))
    for index, prompt in enumerate(prompts):
        assert plain[index].activations == {}
        assert every[index].token_ids == plain[index].token_ids  # capturing changes nothing
        responses = len(every[index].token_ids)
        assert last[index].activations[-1].shape == (hidden,)
        assert mean[index].activations[-1].shape == (hidden,)
        assert every[index].activations[-1].shape == (len(prompt) + responses, hidden)
        for layer in (0, -1):
            full = every[index].activations[layer]
            assert torch.allclose(full[: len(prompt)], captured[index][layer], rtol=1e-4, atol=1e-4)
            assert torch.allclose(last[index].activations[layer], full[len(prompt) - 1], rtol=1e-4, atol=1e-4)
            assert torch.allclose(mean[index].activations[layer], full[len(prompt) :].mean(dim=0), atol=1e-4)
    # The response states equal a forward over prompt + response read all at once.
    whole = prompts[1] + every[1].token_ids
    expected = engine.capture([whole], ActivationSpec(layers=(-1,), reduction="all_tokens"))[0][-1]
    assert torch.allclose(every[1].activations[-1], expected, rtol=1e-4, atol=1e-4)
    # A row's activations do not depend on the padding its batch gave it.
    alone = engine.generate(requests("all_tokens")[:1])[0]
    assert torch.allclose(alone.activations[-1], every[0].activations[-1], rtol=1e-4, atol=1e-4)


# --- steering --------------------------------------------------------------------------------------------------


def test_zero_vector_changes_nothing(engine: LocalEngine) -> None:
    prompt = _prompt(engine, PROMPTS[1])
    baseline = _logits(engine, prompt)
    zero = torch.zeros(engine.loaded.hidden_size)
    with engine.steering([SteeringVector(layer=1, vector=zero, alpha=3.0)]):
        assert torch.equal(_logits(engine, prompt), baseline)


def test_vector_shifts_the_block_output_by_alpha_v(engine: LocalEngine) -> None:
    prompt = _prompt(engine, PROMPTS[1])
    vector = torch.randn(engine.loaded.hidden_size, generator=torch.Generator().manual_seed(0))
    baseline_block = _block_outputs(engine, 1, prompt)
    baseline_logits = _logits(engine, prompt)
    with engine.steering([SteeringVector(layer=1, vector=vector, alpha=2.5)]):
        steered_block = _block_outputs(engine, 1, prompt)
        steered_logits = _logits(engine, prompt)
        captured = engine.capture([prompt], ActivationSpec(layers=(1,), reduction="all_tokens"))[0][1]
    expected_shift = (2.5 * vector).expand_as(baseline_block)
    assert torch.allclose(steered_block - baseline_block, expected_shift, atol=1e-5)
    assert torch.allclose(captured, steered_block, atol=1e-5)
    assert not torch.allclose(steered_logits, baseline_logits)
    # Hooks are gone afterwards and the model is back to its baseline.
    assert _no_hooks_left(engine)
    assert torch.equal(_logits(engine, prompt), baseline_logits)


def test_several_vectors_add_up(llama: LocalEngine) -> None:
    prompt = _prompt(llama, PROMPTS[2])
    first, second = torch.randn(2, llama.loaded.hidden_size, generator=torch.Generator().manual_seed(1))
    baseline = _block_outputs(llama, -1, prompt)
    vectors = [
        SteeringVector(layer=-1, vector=first, alpha=1.0),
        SteeringVector(layer=2, vector=second, alpha=-0.5),
        SteeringVector(layer=0, vector=first, alpha=1.0),
    ]
    with llama.steering(vectors):
        steered = _block_outputs(llama, -1, prompt)
    with llama.steering(vectors[:2]):
        # Without the layer-0 vector only the last block's two vectors act: the shift is exactly their sum.
        shifted = _block_outputs(llama, -1, prompt)
    assert torch.allclose(shifted - baseline, (first - 0.5 * second).expand_as(baseline), atol=1e-5)
    assert not torch.allclose(steered, shifted)
    assert _no_hooks_left(llama)


def test_hooks_come_off_after_an_error(llama: LocalEngine) -> None:
    vector = torch.ones(llama.loaded.hidden_size)
    with pytest.raises(RuntimeError, match="boom"), llama.steering([SteeringVector(layer=0, vector=vector)]):
        assert not _no_hooks_left(llama)
        raise RuntimeError("boom")
    assert _no_hooks_left(llama)


def test_bad_vectors_are_rejected_before_any_hook(llama: LocalEngine) -> None:
    with pytest.raises(ValueError, match="shape"):
        llama.steering([SteeringVector(layer=0, vector=torch.ones(3))])
    with pytest.raises(ValueError, match="out of range"):
        llama.set_steering([SteeringVector(layer=7, vector=torch.ones(llama.loaded.hidden_size))])
    assert _no_hooks_left(llama)


def test_generated_positions_leave_the_prompt_untouched(engine: LocalEngine) -> None:
    prompt = _prompt(engine, PROMPTS[3])
    vector = 5 * torch.randn(engine.loaded.hidden_size, generator=torch.Generator().manual_seed(2))
    spec = ActivationSpec(layers=(-1,), reduction="all_tokens")
    request = GenerationRequest(prompt_ids=prompt, max_new_tokens=8, activations=spec)
    plain = engine.generate([request])[0]
    baseline_logits = _logits(engine, prompt)
    with engine.steering([SteeringVector(layer=0, vector=vector, positions="generated")]):
        steered = engine.generate([request])[0]
        assert torch.equal(_logits(engine, prompt), baseline_logits)  # a forward outside decoding is a prompt read
        prompt_only = engine.capture([prompt], spec)[0][-1]
    with engine.steering([SteeringVector(layer=0, vector=vector, positions="all")]):
        everywhere = engine.generate([request])[0]
    length = len(prompt)
    # The prompt's states are unsteered, so is the first token (it comes from the prompt's last position) ...
    assert torch.allclose(steered.activations[-1][:length], plain.activations[-1][:length], atol=1e-5)
    assert torch.allclose(prompt_only, plain.activations[-1][:length], atol=1e-5)
    assert steered.token_ids[0] == plain.token_ids[0]
    # ... and from there on the steering acts.
    assert not torch.allclose(steered.activations[-1][length], plain.activations[-1][length])
    assert not torch.allclose(everywhere.activations[-1][:length], plain.activations[-1][:length])
    assert _no_hooks_left(engine)


def test_a_request_s_own_steering_acts_on_its_row_alone(engine: LocalEngine) -> None:
    # Rows steered differently (or not at all) share a batch; each gets what the engine-wide steering gives it
    # alone, activations included (read after the steering, as there).
    spec = ActivationSpec(layers=(1,), reduction="all_tokens")
    vector = 3 * torch.randn(engine.loaded.hidden_size, generator=torch.Generator().manual_seed(4))
    settings = [(), (SteeringVector(1, vector, alpha=1.0),), (SteeringVector(1, vector, -2.0, "generated"),), ()]
    requests = [
        GenerationRequest(
            prompt_ids=_prompt(engine, text), max_new_tokens=8, logprobs=True, activations=spec, steering=steering
        )
        for text, steering in zip(PROMPTS, settings, strict=True)
    ]
    together = engine.generate(requests)
    for request, result in zip(requests, together, strict=True):
        with engine.steering(request.steering):
            alone = engine.generate([dataclasses.replace(request, steering=())])[0]
        assert result.token_ids == alone.token_ids
        assert [lp.logprob for lp in result.logprobs] == pytest.approx([lp.logprob for lp in alone.logprobs], abs=1e-4)
        assert torch.allclose(result.activations[1], alone.activations[1], atol=1e-4)
    unsteered = engine.generate([dataclasses.replace(requests[1], steering=())])[0]
    length = len(requests[1].prompt_ids)
    assert not torch.allclose(together[1].activations[1][:length], unsteered.activations[1][:length])  # it acted
    assert _no_hooks_left(engine)


def test_a_request_with_a_bad_vector_is_rejected_before_its_batch_runs(llama: LocalEngine) -> None:
    wrong = SteeringVector(layer=0, vector=torch.ones(llama.loaded.hidden_size + 1))
    requests = [
        GenerationRequest(prompt_ids=_prompt(llama, "Hi"), max_new_tokens=2),
        GenerationRequest(prompt_ids=_prompt(llama, "Hi"), max_new_tokens=2, steering=(wrong,)),
    ]
    with pytest.raises(ValueError, match="this model needs"):
        llama.generate(requests)
    assert _no_hooks_left(llama)


def test_steering_changes_option_scores(llama: LocalEngine) -> None:
    vector = 5 * torch.randn(llama.loaded.hidden_size, generator=torch.Generator().manual_seed(3))
    item = ("The capital of France is", [" Paris", " Rome and Milan"])
    plain = llama.score_options(*item)
    with llama.steering([SteeringVector(layer=1, vector=vector)]):
        everywhere = llama.score_options(*item)
    with llama.steering([SteeringVector(layer=1, vector=vector, positions="generated")]):
        generated = llama.score_options(*item)
    assert everywhere.logprobs != pytest.approx(plain.logprobs, abs=1e-3)
    # "generated" steers the option tokens only: a one-token option is scored from the unsteered context.
    assert generated.logprobs[0] == pytest.approx(plain.logprobs[0], abs=1e-5)
    assert generated.logprobs[1] != pytest.approx(plain.logprobs[1], abs=1e-3)


def test_persistent_steering(gpt2: LocalEngine) -> None:
    prompt = _prompt(gpt2, PROMPTS[0])
    baseline = _logits(gpt2, prompt)
    vector = torch.randn(gpt2.loaded.hidden_size, generator=torch.Generator().manual_seed(4))
    gpt2.set_steering([SteeringVector(layer=0, vector=vector)])
    try:
        steered = _logits(gpt2, prompt)
        gpt2.set_steering([SteeringVector(layer=0, vector=vector)])  # replaces, does not stack
        assert torch.equal(_logits(gpt2, prompt), steered)
        assert len(decoder_blocks(_model(gpt2))[0]._forward_hooks) == 1
    finally:
        gpt2.clear_steering()
    assert not torch.allclose(steered, baseline)
    assert torch.equal(_logits(gpt2, prompt), baseline)
    assert _no_hooks_left(gpt2)


class _TupleBlock(nn.Module):
    """A block in the older style: returns (hidden_states, extra)."""

    def forward(self, hidden: torch.Tensor) -> tuple[torch.Tensor, None]:
        return hidden * 2, None


def test_hooks_handle_blocks_that_return_tuples() -> None:
    blocks = nn.ModuleList([_TupleBlock(), _TupleBlock()])
    vector = torch.arange(4, dtype=torch.float32)
    hooks = SteeringHooks(
        blocks,
        [SteeringVector(layer=-1, vector=vector, alpha=0.5)],
        hidden_size=4,
        dtype=torch.float32,
        device=torch.device("cpu"),
        is_decoding=lambda: False,
    )
    hooks.install()
    try:
        output = blocks[1](torch.ones(1, 2, 4))
    finally:
        hooks.remove()
    assert isinstance(output, tuple) and output[1] is None
    assert torch.equal(output[0], 2 + 0.5 * vector.expand(1, 2, 4))
    assert not blocks[1]._forward_hooks
    assert replace_block_hidden(torch.zeros(1), torch.ones(1)).item() == 1


def test_blocks_found_for_each_architecture(llama: LocalEngine, gpt2: LocalEngine) -> None:
    assert decoder_blocks(_model(llama)) is _model(llama).model.layers
    assert decoder_blocks(_model(gpt2)) is _model(gpt2).transformer.h


@pytest.mark.gpu
def test_everything_runs_on_cuda_in_bfloat16(tiny_llama: Path) -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    engine = LocalEngine(load_model(str(tiny_llama), device="cuda", dtype="auto"))
    assert engine.loaded.dtype == torch.bfloat16
    prompts = [_prompt(engine, text) for text in PROMPTS]
    spec = ActivationSpec(layers=(-1,), reduction="mean_response")
    vector = torch.ones(engine.loaded.hidden_size)
    with engine.steering([SteeringVector(layer=1, vector=vector, positions="generated")]):
        results = engine.generate(
            [
                GenerationRequest(prompt_ids=prompt, max_new_tokens=6, temperature=0.8, seed=1, activations=spec)
                for prompt in prompts
            ]
        )
        scores = engine.score_options("The capital of France is ", ["Paris", "Rome"])
    assert all(result.activations[-1].device.type == "cpu" for result in results)
    assert sum(scores.probabilities) == pytest.approx(1.0)
    assert _no_hooks_left(engine)


def _corrupting(engine: LocalEngine, times: int) -> Any:
    """Make the model's next ``times`` forward passes return logits in the range a broken pass gave (1e9 to 1e31)."""
    forward = engine.loaded.model.forward
    left = [times]

    def broken(*args: Any, **kwargs: Any) -> Any:
        output = forward(*args, **kwargs)
        if left[0] > 0:
            left[0] -= 1
            output.logits = output.logits * 0 + 1e12
        return output

    return broken


def test_a_batch_with_impossible_logits_is_scored_again_item_by_item(
    engine: LocalEngine, caplog: pytest.LogCaptureFixture
) -> None:
    items = [(f"Q: {text}\nA:", [" yes", " no"]) for text in PROMPTS]
    clean = engine.score_options_batch(items)
    engine.loaded.model.forward = _corrupting(engine, times=1)  # type: ignore[method-assign]
    try:
        with caplog.at_level("WARNING"):
            again = engine.score_options_batch(items)
    finally:
        del engine.loaded.model.forward
    assert "impossible logit" in caplog.text
    for before, after in zip(clean, again, strict=True):
        assert after.logprobs == pytest.approx(before.logprobs, abs=1e-4)
        assert after.logprobs[0] != after.logprobs[1]


def test_impossible_logits_that_persist_are_an_error_not_a_tie(engine: LocalEngine) -> None:
    items = [(f"Q: {text}\nA:", [" yes", " no"]) for text in PROMPTS]
    engine.loaded.model.forward = _corrupting(engine, times=100)  # type: ignore[method-assign]
    try:
        with pytest.raises(RuntimeError, match="impossible logit"):
            engine.score_options_batch(items)
    finally:
        del engine.loaded.model.forward
