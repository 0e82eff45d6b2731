"""Tiny random models built offline, shared by the model tests (built once per test session)."""

from __future__ import annotations

import os
from collections.abc import Iterator
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


@pytest.fixture(scope="session")
def default_model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A ``CHARACTERLAB_CACHE`` shared by the slow tests of a session, so the embedded models convert only once.

    An existing ``CHARACTERLAB_CACHE`` is used as it is (CI can keep it between runs); otherwise a temporary folder
    is, and the first slow test that loads an embedded model pays for its conversion.
    """
    configured = os.environ.get("CHARACTERLAB_CACHE")
    if configured:
        yield Path(configured)
        return
    folder = tmp_path_factory.mktemp("characterlab-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CHARACTERLAB_CACHE", str(folder))
        yield folder
