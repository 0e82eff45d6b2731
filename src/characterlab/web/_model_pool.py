"""The models the lab talks to, staged once and shared by every chat that uses them.

A local model loads in seconds and holds its weights in memory, so each ``(model, frame)`` pair is staged once,
in a worker thread (loading would otherwise stop the server), and reused; Inspect's own ``get_model`` memoizes
the API models the same way. Loading errors come back as :class:`CharacterlabError` with the message the user
needs (a missing package or key, an unknown model name, a folder that is not a model).
"""

from __future__ import annotations

import asyncio
from typing import Literal

from inspect_ai.model import Model

from characterlab.dialogue import ChatFrame, inspect_model, stage_model
from characterlab.errors import CharacterlabError

__all__ = ["ModelPool"]

FrameChoice = Literal["auto", "chat", "transcript", "own"]
"""``own``: the model in its provider's own frame, for speakers that send it messages (a dialogue's)."""


class ModelPool:
    """Staged models by ``(name, frame)``."""

    def __init__(self) -> None:
        self._staged: dict[tuple[str, FrameChoice], tuple[ChatFrame, Model]] = {}
        self._loading: dict[tuple[str, FrameChoice], asyncio.Task[tuple[ChatFrame, Model]]] = {}

    async def get(self, name: str, frame: FrameChoice = "auto") -> tuple[ChatFrame, Model]:
        """The frame and model for ``name`` (loaded on first use; concurrent first uses share one load).

        Raises:
            CharacterlabError: the model cannot be used.
        """
        key = (name.strip(), frame)
        if key in self._staged:
            return self._staged[key]
        task = self._loading.get(key)
        if task is None:
            task = asyncio.ensure_future(asyncio.to_thread(_stage, *key))
            self._loading[key] = task
        try:
            staged = await asyncio.shield(task)
        finally:
            if task.done():
                self._loading.pop(key, None)
        self._staged[key] = staged
        return staged

    async def plain(self, name: str) -> Model:
        """The model in its provider's own frame (a base model reads messages as a transcript), loaded once.

        Raises:
            CharacterlabError: the model cannot be used.
        """
        return (await self.get(name, "own"))[1]


def _stage(name: str, frame: FrameChoice) -> tuple[ChatFrame, Model]:
    if not name or "/" not in name:
        raise CharacterlabError(f"a model is named provider/model (e.g. characterlab/default), not {name!r}")
    if frame == "own":
        return "chat", inspect_model(name)
    return stage_model(name, frame)
