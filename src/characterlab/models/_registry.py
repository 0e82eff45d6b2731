"""Registers the ``characterlab`` model provider with Inspect (through the ``inspect_ai`` entry point).

The provider class is imported inside the factory, so that Inspect's start-up, which loads every entry point,
does not pay for torch and transformers unless a ``characterlab/...`` model is actually used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from inspect_ai.model import modelapi

if TYPE_CHECKING:
    from characterlab.models._provider import LocalModelAPI

__all__ = ["characterlab"]


@modelapi(name="characterlab")
def characterlab() -> type[LocalModelAPI]:
    """The local transformers provider: ``--model characterlab/<default|base|hub id|folder>``."""
    from characterlab.models._provider import LocalModelAPI

    return LocalModelAPI
