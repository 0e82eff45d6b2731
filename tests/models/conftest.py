"""Tiny random models built offline, shared by the model tests (built once per test session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from characterlab.models import build_tiny_model


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a tiny random Llama-shaped chat model and its tokenizer."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"), architecture="llama")


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a tiny random GPT-2-shaped base model (no chat template) and its tokenizer."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-gpt2"), architecture="gpt2")
