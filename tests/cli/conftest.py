"""Shared set-up of the CLI tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _offline_and_wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    # Rich wraps at the terminal width; a wide one keeps table rows and messages on one line for the asserts.
    monkeypatch.setenv("COLUMNS", "250")
