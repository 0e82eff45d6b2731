"""Naming and loading the local models the commands work on (``default``, ``base``, a folder, with or without
``characterlab/`` in front, as Inspect names them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from characterlab.models import LocalEngine

__all__ = ["LOCAL_PREFIX", "local_engine"]

LOCAL_PREFIX = "characterlab/"
"""The Inspect provider prefix of characterlab's local models."""


def local_engine(name: str) -> LocalEngine:
    """Load a local model for in-process work (activations, steering); torch is imported only here."""
    from characterlab.models import LocalEngine, load_model

    return LocalEngine(load_model(name.removeprefix(LOCAL_PREFIX)))
