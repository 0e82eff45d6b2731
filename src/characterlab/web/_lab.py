"""What every request handler reaches: the settings, the database and the model pool of one running lab."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from characterlab.characters import Character, parse_character
from characterlab.store import CharacterRecord, Store
from characterlab.web._model_pool import ModelPool
from characterlab.web._settings import LabSettings

__all__ = ["Lab", "lab_of"]


@dataclass
class Lab:
    """One running lab."""

    settings: LabSettings
    pool: ModelPool = field(default_factory=ModelPool)
    running_dialogues: set[str] = field(default_factory=set)
    """Dialogues taking turns now (one run at a time each)."""
    background: set[asyncio.Task[Any]] = field(default_factory=set)
    """Work that goes on whether or not a browser watches, kept referenced so the event loop does not drop it."""

    @property
    def store(self) -> Store:
        """The lab's database."""
        return self.settings.store

    def character(self, character_id: str) -> tuple[CharacterRecord, Character]:
        """A stored character, validated (a stored one always is: only valid YAML is saved)."""
        record = self.store.character(character_id)
        return record, parse_character(record.yaml, source=f"character {record.name}")


def lab_of(request: Request) -> Lab:
    """The lab serving this request (a FastAPI dependency)."""
    lab = request.app.state.lab
    assert isinstance(lab, Lab)
    return lab
