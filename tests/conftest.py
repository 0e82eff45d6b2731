"""Shared fixtures: paths to test characters and the bundled examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from characterlab.characters import Character, load_character

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXAMPLES = ROOT / "examples" / "characters"
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture
def ada_path() -> Path:
    """A small character that uses every field of the character file."""
    return FIXTURES / "ada.character.yaml"


@pytest.fixture
def ada(ada_path: Path) -> Character:
    """The character at ``ada_path``, loaded."""
    return load_character(ada_path)


def bundled_character_paths() -> list[Path]:
    """The character files bundled in ``examples/characters``."""
    return sorted(EXAMPLES.glob("*.character.yaml"))
