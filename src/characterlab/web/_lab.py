"""What every request handler reaches: the settings, the database and the model pool of one running lab."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from fastapi import Request

from characterlab.characters import Character, parse_character
from characterlab.errors import CharacterlabError
from characterlab.store import ID_PATTERN, CharacterRecord, Store
from characterlab.web._model_pool import ModelPool
from characterlab.web._settings import LabSettings

if TYPE_CHECKING:
    from characterlab.models import SteeringVector

__all__ = ["Lab", "lab_of"]


@dataclass
class Lab:
    """One running lab."""

    settings: LabSettings
    pool: ModelPool = field(default_factory=ModelPool)
    running_dialogues: set[str] = field(default_factory=set)
    """Dialogues taking turns now (one run at a time each)."""
    streaming: int = 0
    """Replies whose drafts are being sent to a browser now."""
    background: set[asyncio.Task[Any]] = field(default_factory=set)
    """Work that goes on whether or not a browser watches, kept referenced so the event loop does not drop it."""
    run_headers: dict[str, tuple[tuple[int, int], Any]] = field(default_factory=dict)
    """Log file → its (modification time, size) when last read, and its header (an Inspect ``EvalLog``)."""

    @property
    def store(self) -> Store:
        """The lab's database."""
        return self.settings.store

    def character(self, character_id: str) -> tuple[CharacterRecord, Character]:
        """A stored character, validated (a stored one always is: only valid YAML is saved)."""
        record = self.store.character(character_id)
        return record, _parsed(record.yaml, record.name)

    def steering_files(self) -> dict[str, Path]:
        """The steering files a chat may use: name (the file's stem) → file, from the ``vectors`` folders.

        A chat names its file; only names listed here are ever opened, so no request can reach another path.
        """
        found: dict[str, Path] = {}
        for folder in self.settings.vectors:
            if folder.is_dir():
                for path in sorted(folder.glob("*.safetensors")):
                    if ID_PATTERN.fullmatch(path.stem):
                        found.setdefault(path.stem, path)
        return found

    def watched(self, settings: dict[str, Any]) -> dict[int, Any]:
        """The directions a chat's replies are projected on (``watch_file``): block → vector; empty for none.

        Raises:
            CharacterlabError: The named file is no longer in the vectors folders, or is not a steering file.
        """
        vectors = self._read_offered(str(settings.get("watch_file") or ""), alpha=1.0, positions="all")
        return {vector.layer: vector.vector for vector in vectors}

    def steering(self, settings: dict[str, Any]) -> list[SteeringVector]:
        """The vectors a chat's settings ask for (none without ``steering_file``).

        Raises:
            CharacterlabError: The named file is no longer in the vectors folders, or is not a steering file.
        """
        return self._read_offered(
            str(settings.get("steering_file") or ""),
            alpha=float(settings.get("steering_alpha", 1.0)),
            positions="generated" if settings.get("steering_positions") == "generated" else "all",
        )

    def _read_offered(self, name: str, *, alpha: float, positions: Literal["all", "generated"]) -> list[SteeringVector]:
        """The vectors of an offered file chosen by name (none for an empty name)."""
        if not name:
            return []
        from characterlab.models import read_steering_file  # torch: only once a chat steers or watches

        path = self.steering_files().get(name)
        if path is None:
            raise CharacterlabError(
                f"the vectors file {name!r} is no longer in the lab's vectors folders; choose another in the settings"
            )
        return read_steering_file(path, alpha=alpha, positions=positions)


@functools.lru_cache(maxsize=64)
def _parsed(yaml: str, name: str) -> Character:
    """A character's YAML, validated once per text.

    A rich character takes 15 to 40 ms to parse and every reply of its chats needs it; characters are frozen, so
    one parsed copy serves every request.
    """
    return parse_character(yaml, source=f"character {name}")


def lab_of(request: Request) -> Lab:
    """The lab serving this request (a FastAPI dependency)."""
    lab = request.app.state.lab
    assert isinstance(lab, Lab)
    return lab
