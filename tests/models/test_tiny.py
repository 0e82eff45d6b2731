"""The tiny random models: loadable as any model folder, chat-shaped or base-shaped, deterministic for a seed."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from characterlab.models import build_tiny_model


def test_llama_is_a_chat_model_with_a_bos_token(tiny_llama: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    assert type(model).__name__ == "LlamaForCausalLM"
    assert model.config.num_hidden_layers == 3
    assert tokenizer.chat_template
    ids = tokenizer("Hello")["input_ids"]
    assert ids[0] == tokenizer.bos_token_id
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    assert rendered == "<|bos|><|user|>\nHi<|eos|>\n<|assistant|>\n"


def test_gpt2_is_a_base_model_without_special_prefix(tiny_gpt2: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2)
    model = AutoModelForCausalLM.from_pretrained(tiny_gpt2)
    assert type(model).__name__ == "GPT2LMHeadModel"
    assert not tokenizer.chat_template
    assert tokenizer("Hello")["input_ids"][0] != tokenizer.bos_token_id
    assert {tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token} == {"<|bos|>", "<|eos|>", "<|pad|>"}


@pytest.mark.parametrize("text", ["The capital of France is Paris.", "naïve café — 東京 🙂", "  spaces\tand\nlines "])
def test_byte_level_tokenizer_round_trips_any_text(tiny_gpt2: Path, text: str) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2)
    ids = tokenizer(text)["input_ids"]
    assert tokenizer.decode(ids) == text
    assert len(tokenizer) < 500


def test_same_seed_same_model_other_seed_other_weights(tmp_path: Path) -> None:
    first = build_tiny_model(tmp_path / "a", architecture="gpt2", seed=1)
    second = build_tiny_model(tmp_path / "b", architecture="gpt2", seed=1)
    third = build_tiny_model(tmp_path / "c", architecture="gpt2", seed=2)
    assert (first / "tokenizer.json").read_bytes() == (second / "tokenizer.json").read_bytes()
    weights = [AutoModelForCausalLM.from_pretrained(folder).state_dict() for folder in (first, second, third)]
    name = "transformer.h.0.attn.c_attn.weight"
    assert torch.equal(weights[0][name], weights[1][name])
    assert not torch.equal(weights[0][name], weights[2][name])


def test_building_leaves_the_global_random_state_alone(tmp_path: Path) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_tiny_model(tmp_path / "m", architecture="llama")
    assert torch.equal(torch.rand(3), expected)
