"""Tiny random models built offline for the model tests (``tiny_llama`` and the default-model cache are shared
by every package, in ``tests/conftest.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from characterlab.models import build_tiny_model


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a tiny random GPT-2-shaped base model (no chat template) and its tokenizer."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-gpt2"), architecture="gpt2")


@pytest.fixture(scope="session")
def tiny_gemma3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a tiny random Gemma-3-shaped chat model: sliding-window and global attention layers."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-gemma3"), architecture="gemma3")
