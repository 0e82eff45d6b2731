"""The ``characterlab/...`` Inspect provider on tiny random models: evals, batching, frames, activations, steering."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
from inspect_ai import Task, eval
from inspect_ai.dataset import Sample
from inspect_ai.log import read_eval_log
from inspect_ai.model import ChatMessage, ChatMessageSystem, ChatMessageUser, GenerateConfig, Model, get_model
from inspect_ai.scorer import includes
from inspect_ai.solver import generate
from inspect_ai.tool import ToolInfo
from safetensors.torch import save_file

from characterlab.errors import CapabilityError, CharacterlabError
from characterlab.models import (
    GenerationRequest,
    GenerationResult,
    LoadedModel,
    LocalModelAPI,
    SteeringVector,
    local_api,
    steered,
)
from characterlab.models._provider import _Draft
from characterlab.stage import FrameMessage, render_transcript_from_messages

OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in OFFLINE.items():
        monkeypatch.setenv(key, value)


def _local(folder: Path, **model_args: object) -> Model:
    # memoize=False: each test gets its own provider, so spies and steering never leak between tests.
    return get_model(f"characterlab/{folder}", memoize=False, **model_args)


def _api(model: Model) -> LocalModelAPI:
    assert isinstance(model.api, LocalModelAPI)
    return model.api


def _spy_on_generate(api: LocalModelAPI, monkeypatch: pytest.MonkeyPatch) -> list[list[GenerationRequest]]:
    """Record every group of requests the engine's continuous loop takes in."""
    batches: list[list[GenerationRequest]] = []
    real = api.engine.generate_continuously

    def spy(
        take: Callable[[int, bool], Sequence[GenerationRequest]],
        deliver: Callable[[GenerationRequest, GenerationResult | Exception], None],
        *,
        batch_size: int = 16,
    ) -> None:
        def taking(room: int, idle: bool) -> Sequence[GenerationRequest]:
            taken = take(room, idle)
            if taken:
                batches.append(list(taken))
            return taken

        real(taking, deliver, batch_size=batch_size)

    monkeypatch.setattr(api.engine, "generate_continuously", spy)
    return batches


def _capital_task(samples: int = 3) -> Task:
    return Task(
        dataset=[Sample(input=f"Question {i}: what is the capital of France?", target="Paris") for i in range(samples)],
        solver=generate(),
        scorer=includes(),
    )


def test_inspect_eval_runs_end_to_end_with_activations(tiny_llama: Path, tmp_path: Path) -> None:
    model = _local(tiny_llama, activation_layers=[0, -1], activation_reduction="mean_response")
    log = eval(_capital_task(), model=model, display="none", log_dir=str(tmp_path), max_tokens=6)[0]
    assert log.status == "success", log.error
    stored = read_eval_log(log.location)  # what a reader of the log file sees, after the JSON round trip
    assert stored.status == "success"
    assert stored.samples is not None and len(stored.samples) == 3
    for sample in stored.samples:
        output = sample.output
        assert output.usage is not None and output.usage.input_tokens > 0
        assert 0 < output.usage.output_tokens <= 6
        assert output.usage.total_tokens == output.usage.input_tokens + output.usage.output_tokens
        assert output.stop_reason in ("stop", "max_tokens")
        assert output.metadata is not None
        activations = output.metadata["activations"]
        assert activations["layers"] == [0, -1] and activations["reduction"] == "mean_response"
        assert sorted(activations["values"]) == ["-1", "0"]
        assert all(len(values) == 64 for values in activations["values"].values())


def test_an_eval_by_model_name_loads_the_weights_once(
    tiny_llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import characterlab.models._provider as provider

    loads: list[str] = []
    real_load = provider.load_model

    def counting_load(name: str, **options: Any) -> LoadedModel:
        loads.append(name)
        return real_load(name, **options)

    monkeypatch.setattr(provider, "load_model", counting_load)
    # A name no other test uses, so that no memoized model hides a load.
    model = f"characterlab/{tiny_llama}/."
    log = eval(_capital_task(2), model=model, display="none", log_dir=str(tmp_path), max_tokens=3)[0]
    assert log.status == "success", log.error
    assert loads == [f"{tiny_llama}/."]  # not again for Inspect's model-info lookup


def test_inspect_eval_cli_with_the_provider_from_its_entry_point(tiny_llama: Path, tmp_path: Path) -> None:
    task_file = tmp_path / "capital.py"
    task_file.write_text(
        "from inspect_ai import Task, task\n"
        "from inspect_ai.dataset import Sample\n"
        "from inspect_ai.scorer import includes\n"
        "from inspect_ai.solver import generate\n\n"
        "@task\n"
        "def capital():\n"
        "    return Task(dataset=[Sample(input=f'Capital of France? ({i})', target='Paris') for i in range(2)],\n"
        "                solver=generate(), scorer=includes())\n",
        encoding="utf-8",
    )
    logs = tmp_path / "logs"
    inspect = Path(sys.executable).with_name("inspect")
    # Inspect globs task files under the working directory, so the file is named relative to it.
    command = [str(inspect), "eval", task_file.name, "--model", f"characterlab/{tiny_llama}"]
    command += ["--max-tokens", "4", "--max-connections", "4", "--display", "none", "--log-dir", str(logs)]
    done = subprocess.run(
        command, cwd=tmp_path, env={**os.environ, **OFFLINE}, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    # The exit code is 0 even when the eval failed: the log's status is the truth.
    [log_file] = logs.glob("*.eval")
    log = read_eval_log(str(log_file))
    assert log.status == "success", log.error
    assert log.eval.model == f"characterlab/{tiny_llama}"
    assert log.samples is not None and all(sample.output.usage is not None for sample in log.samples)


def test_concurrent_calls_are_batched_and_match_one_at_a_time(
    tiny_llama: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _local(tiny_llama, batch_wait_ms=50)
    batches = _spy_on_generate(_api(model), monkeypatch)
    prompts = [f"Tell me about the number {i}." for i in range(16)]
    config = GenerateConfig(max_tokens=6)

    async def together() -> list[str]:
        outputs = await asyncio.gather(*(model.generate(prompt, config=config) for prompt in prompts))
        return [output.completion for output in outputs]

    async def one_at_a_time() -> list[str]:
        return [(await model.generate(prompt, config=config)).completion for prompt in prompts]

    batched = asyncio.run(together())
    assert max(len(batch) for batch in batches) > 1
    assert sum(len(batch) for batch in batches) == 16
    batches.clear()
    alone = asyncio.run(one_at_a_time())
    assert [len(batch) for batch in batches] == [1] * 16
    assert batched == alone


def test_streaming_shows_growing_drafts_that_end_in_the_reply(tiny_llama: Path) -> None:
    model = _local(tiny_llama, batch_wait_ms=20)
    api = _api(model)
    config = GenerateConfig(max_tokens=12, temperature=0.0)
    messages: list[ChatMessage] = [ChatMessageUser(content="Tell me a story.")]

    async def both() -> tuple[list[str], str, str]:
        drafts: list[str] = []
        # A second caller at the same time: streaming rides in the same batch as ordinary calls.
        streamed, plain = await asyncio.gather(
            api.generate_streaming(messages, config, drafts.append), model.generate(messages, config=config)
        )
        return drafts, streamed.completion, plain.completion

    drafts, streamed, plain = asyncio.run(both())
    assert streamed == plain
    assert len(drafts) > 1
    assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(drafts))
    assert drafts[-1] == streamed


def test_a_streamed_draft_never_shows_the_start_of_a_stop_sequence(tiny_llama: Path) -> None:
    api = _api(_local(tiny_llama))
    engine = api.engine
    drafts: list[str] = []
    draft = _Draft(engine, ["\nSam:"], drafts.append)
    for token in engine.encode("Hello there\nSa", add_special_tokens=False):
        draft.add(token)
    assert drafts[-1] == "Hello there"  # "\nSa" may become "\nSam:", so it is held back
    for token in engine.encode("m: hi", add_special_tokens=False):
        draft.add(token)
    assert drafts[-1] == "Hello there"
    assert all("\n" not in text for text in drafts)


def test_base_model_gets_the_transcript_frame(tiny_gpt2: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _local(tiny_gpt2, user_name="Sam", assistant_name="Guide")
    api = _api(model)
    assert api.frame == "transcript"
    batches = _spy_on_generate(api, monkeypatch)
    messages = [ChatMessageSystem(content="You answer briefly."), ChatMessageUser(content="Where is Paris?")]
    output = asyncio.run(model.generate(messages, config=GenerateConfig(max_tokens=12, stop_seqs=["!"])))
    [[request]] = batches
    expected = render_transcript_from_messages(
        [
            FrameMessage(role="system", content="You answer briefly."),
            FrameMessage(role="user", content="Where is Paris?"),
        ],
        char="Guide",
        user="Sam",
    )
    assert api.engine.decode(request.prompt_ids) == expected.prompt
    assert request.stop_sequences == ("\nSam:", "\nGuide:", "!")
    assert output.completion == output.completion.strip()
    assert "\nSam:" not in output.completion


def test_chat_model_gets_its_chat_template(tiny_llama: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _local(tiny_llama)
    api = _api(model)
    assert api.frame == "chat"
    batches = _spy_on_generate(api, monkeypatch)
    asyncio.run(model.generate("Hi there", config=GenerateConfig(max_tokens=2)))
    [[request]] = batches
    assert list(request.prompt_ids) == api.engine.chat_prompt_ids([{"role": "user", "content": "Hi there"}])


def test_raw_frame_sends_the_text_as_it_is(tiny_llama: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _local(tiny_llama, frame="raw")
    api = _api(model)
    batches = _spy_on_generate(api, monkeypatch)
    asyncio.run(model.generate("Once upon a time", config=GenerateConfig(max_tokens=2)))
    assert list(batches[0][0].prompt_ids) == api.engine.encode("Once upon a time")


def test_config_reaches_the_request(tiny_llama: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _local(tiny_llama)
    batches = _spy_on_generate(_api(model), monkeypatch)
    config = GenerateConfig(
        max_tokens=5, temperature=0.7, top_p=0.9, top_k=20, seed=3, stop_seqs=["."], frequency_penalty=0.5
    )
    asyncio.run(model.generate("Hi", config=config))
    request = batches[0][0]
    assert (request.max_new_tokens, request.temperature, request.top_p, request.top_k) == (5, 0.7, 0.9, 20)
    assert (request.frequency_penalty, request.presence_penalty) == (0.5, 0.0)
    assert request.seed == 3 and request.stop_sequences == (".",)
    assert not request.logprobs and request.activations is None


def test_sampling_with_a_seed_is_reproducible(tiny_llama: Path) -> None:
    model = _local(tiny_llama)
    config = GenerateConfig(max_tokens=8, temperature=1.0, seed=11)
    first = asyncio.run(model.generate("Tell me a story.", config=config))
    again = asyncio.run(model.generate("Tell me a story.", config=config))
    assert first.completion == again.completion


def test_logprobs_when_asked(tiny_llama: Path) -> None:
    model = _local(tiny_llama)
    config = GenerateConfig(max_tokens=4, logprobs=True, top_logprobs=3)
    output = asyncio.run(model.generate("Hello", config=config))
    assert output.choices[0].logprobs is not None
    content = output.choices[0].logprobs.content
    assert output.usage is not None and len(content) == output.usage.output_tokens
    for entry in content:
        assert entry.logprob <= 0
        assert entry.top_logprobs is not None and len(entry.top_logprobs) == 3
        assert entry.top_logprobs[0].logprob >= entry.logprob
    plain = asyncio.run(model.generate("Hello", config=GenerateConfig(max_tokens=4)))
    assert plain.choices[0].logprobs is None and plain.metadata is None


def test_tokens_are_counted_offline_with_the_models_tokenizer(tiny_llama: Path) -> None:
    model = _local(tiny_llama)
    count = asyncio.run(model.count_tokens("The capital of France is Paris."))
    assert count == _api(model).engine.count_tokens("The capital of France is Paris.")
    assert _api(model).max_connections() == 16
    assert _api(model).should_retry(RuntimeError("out of memory")) is False


def _steering_file(path: Path, hidden: int, layer: int = 0) -> Path:
    vector = torch.randn(hidden, generator=torch.Generator().manual_seed(0)) * 20
    save_file({f"layer.{layer}": vector}, str(path))
    return path


def test_steering_file_changes_the_output(tiny_llama: Path, tmp_path: Path) -> None:
    file = _steering_file(tmp_path / "vectors.safetensors", hidden=64)
    config = GenerateConfig(max_tokens=8)
    plain = asyncio.run(_local(tiny_llama).generate("Tell me a story.", config=config))
    steered_output = asyncio.run(_local(tiny_llama, steering=str(file)).generate("Tell me a story.", config=config))
    zero = asyncio.run(
        _local(tiny_llama, steering=str(file), steering_alpha=0.0).generate("Tell me a story.", config=config)
    )
    assert steered_output.completion != plain.completion
    assert zero.completion == plain.completion


def test_adapter_model_arg_applies_a_lora_adapter(tiny_llama: Path, tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    lora = LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_llama), lora).save_pretrained(tmp_path / "adapter")
    adapted = _local(tiny_llama, adapter=str(tmp_path / "adapter"))
    assert _api(adapted).engine.loaded.adapter == str(tmp_path / "adapter")
    config = GenerateConfig(max_tokens=8)
    plain = asyncio.run(_local(tiny_llama).generate("Tell me a story.", config=config))
    assert asyncio.run(adapted.generate("Tell me a story.", config=config)).completion != plain.completion


def test_steered_context_manager(tiny_llama: Path) -> None:
    model = _local(tiny_llama)
    vector = torch.randn(64, generator=torch.Generator().manual_seed(1)) * 20
    config = GenerateConfig(max_tokens=8)
    before = asyncio.run(model.generate("Tell me a story.", config=config)).completion
    with steered(model, [SteeringVector(layer=1, vector=vector)]):
        during = asyncio.run(model.generate("Tell me a story.", config=config)).completion
    after = asyncio.run(model.generate("Tell me a story.", config=config)).completion
    assert during != before and after == before
    with (
        pytest.raises(CharacterlabError, match="shape"),
        steered(model, [SteeringVector(layer=0, vector=torch.ones(3))]),
    ):
        pass


def test_local_api_refuses_api_models() -> None:
    with pytest.raises(CapabilityError, match="not a local model"):
        local_api(get_model("mockllm/model"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"temprature": 0.5}, "unknown model arg"),
        ({"frame": "poem"}, "frame must be one of"),
        ({"activation_layers": [0], "activation_reduction": "all_tokens"}, "one vector per layer"),
        ({"activation_layers": [7]}, "out of range"),
        ({"batch_size": 0}, "positive whole number"),
    ],
)
def test_bad_model_args_are_clear_errors(tiny_llama: Path, args: dict[str, object], message: str) -> None:
    with pytest.raises(CharacterlabError, match=message):
        _local(tiny_llama, **args)


def test_chat_frame_on_a_base_model_is_refused(tiny_gpt2: Path) -> None:
    with pytest.raises(CharacterlabError, match="no chat template"):
        _local(tiny_gpt2, frame="chat")


def test_bad_steering_files(tiny_llama: Path, tmp_path: Path) -> None:
    with pytest.raises(CharacterlabError, match="does not exist"):
        _local(tiny_llama, steering=str(tmp_path / "missing.safetensors"))
    save_file({"vector": torch.ones(64)}, str(tmp_path / "misnamed.safetensors"))
    with pytest.raises(CharacterlabError, match="not named layer"):
        _local(tiny_llama, steering=str(tmp_path / "misnamed.safetensors"))
    with pytest.raises(CharacterlabError, match="shape"):
        _local(tiny_llama, steering=str(_steering_file(tmp_path / "wide.safetensors", hidden=65)))


def test_tools_are_refused(tiny_llama: Path) -> None:
    api = _api(_local(tiny_llama))
    tool = ToolInfo(name="add", description="Add two numbers.")
    with pytest.raises(CharacterlabError, match="tool calling"):
        asyncio.run(api.generate([ChatMessageUser(content="2+2?")], [tool], "auto", GenerateConfig()))


def test_missing_model_folder_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(CharacterlabError, match="cannot load a model"):
        _local(tmp_path / "nothing-here")


@pytest.mark.slow
def test_default_model_answers_a_capital_question(default_model_cache: Path, tmp_path: Path) -> None:
    task = Task(
        dataset=[Sample(input="What is the capital of France? Answer in one word.", target="Paris")],
        solver=generate(),
        scorer=includes(),
    )
    log = eval(task, model="characterlab/default", display="none", log_dir=str(tmp_path), max_tokens=16)[0]
    assert log.status == "success", log.error
    assert log.samples is not None
    assert "Paris" in log.samples[0].output.completion
