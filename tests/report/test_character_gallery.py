"""The character gallery page: self-contained, and every piece of character text escaped."""

from __future__ import annotations

import re

from characterlab.characters import Character, Trait
from characterlab.report import GalleryEntry, render_character_gallery

PNG = b"\x89PNG\r\n\x1a\nnot really"


def test_gallery_escapes_card_text_and_inlines_images() -> None:
    evil = Character(
        name="<script>alert(1)</script>",
        summary='<img src=x onerror="alert(2)">',
        traits=[Trait(id="wit", description="<b>bold</b>", strength=0.7)],
    )
    page = render_character_gallery([GalleryEntry(evil, source="evil.character.yaml", card_png=PNG)])
    assert "<script>" not in page and "<img src=x" not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "data:image/png;base64," in page
    assert not re.search(r"""(src|href)=["']?https?:""", page)  # nothing fetched from elsewhere
    assert "wit" in page and "0.7 (strong)" in page


def test_gallery_lists_every_character_with_its_files() -> None:
    entries = [
        GalleryEntry(Character(name=name), source=f"{name}.character.yaml", card_png=PNG, files={"card": f"{name}.png"})
        for name in ("Ada", "Bo")
    ]
    page = render_character_gallery(entries)
    assert page.count("<article") == 2
    assert 'href="Ada.png"' in page and 'href="Bo.png"' in page
    assert "2 character(s)" in page


def test_gallery_fills_macros() -> None:
    character = Character(
        name="Ada", summary="{{char}} greets {{user}}.", traits=[Trait(id="x", description="<BOT> asks", strength=1)]
    )
    page = render_character_gallery([GalleryEntry(character, source="a", card_png=PNG)])
    assert "Ada greets User." in page and "Ada asks" in page and "{{" not in page
