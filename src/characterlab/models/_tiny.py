"""Tiny random language models, built offline in well under a second, for fast tests of everything model-shaped.

The weights are random, so the text they write is nonsense; what matters is that they are real transformers
models with a real byte-level BPE tokenizer, saved the way any model folder is saved, so the code under test
loads them exactly as it loads a downloaded model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    Gemma3ForCausalLM,
    Gemma3TextConfig,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)

__all__ = ["TINY_CHAT_TEMPLATE", "build_tiny_model"]

TINY_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
"""A minimal chat template in the style of ChatML: each turn is a role marker, its text, and the end token."""

_BOS, _EOS, _PAD = "<|bos|>", "<|eos|>", "<|pad|>"
_ROLE_MARKERS = ("<|system|>", "<|user|>", "<|assistant|>")
_VOCAB_SIZE = 384
# Random init at the usual 0.02 gives near-uniform logits whose argmax flips on rounding noise; a wider init
# gives decisive logits, so greedy outputs are stable enough to compare across batch layouts.
_INITIALIZER_RANGE = 0.3

_TRAINING_TEXT = (
    "The capital of France is Paris, and the capital of Italy is Rome.",
    "Once upon a time there was a little robot who wanted to learn how to paint.",
    "A character is defined by what it values, how it speaks, and what it knows about itself.",
    "What is the capital of France? The capital of France is Paris.",
    "Hello! How are you today? I am fine, thank you for asking.",
    "Curiosity drives me to learn: I love exploring new ideas and asking questions.",
    "Numbers like 0, 1, 2, 3, 42 and 100 appear in answers; so do punctuation marks (like these) - and quotes.",
    "The quick brown fox jumps over the lazy dog while the sun sets behind the hills.",
    "User: Tell me a story.\nAssistant: Once upon a time, in a quiet village, lived a kind old baker.",
    "Yes. No. Maybe. Always. Never. Sometimes the answer is simply 'it depends'.",
)


TINY_SLIDING_WINDOW = 8
"""The attention window of the tiny Gemma-3-shaped model's local layers: short, so tests cross it."""


def build_tiny_model(
    folder: Path, *, architecture: Literal["llama", "gpt2", "gemma3"] = "llama", seed: int = 0, context: int = 512
) -> Path:
    """Build a tiny random causal language model and its tokenizer, and save both into ``folder``.

    The Llama-shaped model is a chat model (its tokenizer has a chat template and adds a BOS token); the
    GPT-2-shaped one is a base model (no chat template, no BOS), like the two embedded default models. The
    Gemma-3-shaped one is a chat model like the Llama one, with the default model's mix of local
    (sliding-window, :data:`TINY_SLIDING_WINDOW` tokens) and global attention layers.
    ``AutoModelForCausalLM.from_pretrained(folder)`` and ``AutoTokenizer.from_pretrained(folder)`` load them.

    Args:
        folder: Where to save; created if missing.
        architecture: ``llama`` (3 blocks, grouped-query attention), ``gpt2`` (2 blocks, learned positions) or
            ``gemma3`` (3 blocks: two sliding-window, one global).
        seed: Seed of the random weights; the same seed gives the same model.
        context: The longest sequence the model reads, in tokens (its tokenizer spends about a token a character).

    Returns:
        ``folder``.

    Examples:
        >>> path = build_tiny_model(tmp_path / "tiny", architecture="gpt2")  # doctest: +SKIP
    """
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = _train_tokenizer(add_bos=architecture != "gpt2")
    if architecture != "gpt2":
        tokenizer.chat_template = TINY_CHAT_TEMPLATE
    vocab = tokenizer.get_vocab()
    bos_id, eos_id, pad_id = vocab[_BOS], vocab[_EOS], vocab[_PAD]
    vocab_size = len(vocab)
    model: PreTrainedModel
    # fork_rng keeps the caller's global random state untouched while the weights are drawn from ``seed``.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        special: dict[str, Any] = {"bos_token_id": bos_id, "eos_token_id": eos_id, "pad_token_id": pad_id}
        decoder: dict[str, Any] = {
            "vocab_size": vocab_size,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 3,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": context,
            "initializer_range": _INITIALIZER_RANGE,
            **special,
        }
        if architecture == "llama":
            model = LlamaForCausalLM(LlamaConfig(**decoder))
        elif architecture == "gemma3":
            model = Gemma3ForCausalLM(
                Gemma3TextConfig(
                    **decoder,
                    head_dim=16,
                    sliding_window=TINY_SLIDING_WINDOW,
                    # Tied embeddings make one high-norm token win every step in a random model.
                    tie_word_embeddings=False,
                    layer_types=["sliding_attention", "sliding_attention", "full_attention"],
                )
            )
        else:
            model = GPT2LMHeadModel(
                GPT2Config(
                    vocab_size=vocab_size,
                    n_embd=64,
                    n_layer=2,
                    n_head=4,
                    n_positions=context,
                    initializer_range=_INITIALIZER_RANGE,
                    **special,
                )
            )
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _train_tokenizer(*, add_bos: bool) -> PreTrainedTokenizerBase:
    """Train a byte-level BPE on the built-in sentences; every byte is in the alphabet, so any text encodes."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    special_tokens = [_BOS, _EOS, _PAD, *_ROLE_MARKERS]
    trainer = trainers.BpeTrainer(
        vocab_size=_VOCAB_SIZE,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_TRAINING_TEXT, trainer=trainer)
    if add_bos:
        bos_id = tokenizer.token_to_id(_BOS)
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{_BOS} $A", pair=f"{_BOS} $A $B", special_tokens=[(_BOS, bos_id)]
        )
    else:
        tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    # transformers' tokenizer constructor is untyped; its result is a PreTrainedTokenizerBase.
    fast_tokenizer: Any = PreTrainedTokenizerFast
    wrapped: PreTrainedTokenizerBase = fast_tokenizer(
        tokenizer_object=tokenizer,
        bos_token=_BOS,
        eos_token=_EOS,
        pad_token=_PAD,
        additional_special_tokens=list(_ROLE_MARKERS),
    )
    return wrapped
