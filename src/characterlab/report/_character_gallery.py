"""A page showing characters side by side: their card, traits, and the prompts that stage them."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime

from characterlab import __version__
from characterlab.characters import Character, substitute_macros
from characterlab.report._environment import report_environment
from characterlab.stage import render_system_prompt, render_transcript_frame, strength_label

__all__ = ["GalleryEntry", "render_character_gallery"]


@dataclass(frozen=True)
class GalleryEntry:
    """One character on the gallery page, with what was made from it."""

    character: Character
    source: str
    """Where the character was loaded from, as the reader should see it."""
    card_png: bytes
    """The exported PNG card; shown inline."""
    files: dict[str, str] = field(default_factory=dict)
    """Label → relative path of files written for this character (linked from the page)."""
    notes: list[str] = field(default_factory=list)
    """Checks and facts worth showing (round trips, corpus size)."""


def render_character_gallery(entries: list[GalleryEntry], *, title: str = "characterlab characters") -> str:
    """Render a self-contained HTML page of characters (images inlined, no scripts, all text escaped).

    Args:
        entries: The characters to show, in order.
        title: The page title.
    """
    template = report_environment().get_template("character_gallery.html.j2")
    cards = [
        {
            "entry": entry,
            "image": "data:image/png;base64," + base64.b64encode(entry.card_png).decode("ascii"),
            "summary": _filled(entry.character.summary, entry.character),
            "traits": [
                (trait, strength_label(trait.strength), _filled(trait.description, entry.character))
                for trait in entry.character.traits
            ],
            "system_prompt": render_system_prompt(entry.character),
            "transcript": render_transcript_frame(entry.character).prompt,
        }
        for entry in entries
    ]
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return template.render(title=title, cards=cards, version=__version__, generated=generated)


def _filled(text: str, character: Character) -> str:
    return substitute_macros(text, char=character.display_name, user="User")
