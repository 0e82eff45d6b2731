"""Self-contained HTML pages a person can open: everything inlined, nothing fetched."""

from characterlab.report._character_gallery import GalleryEntry, render_character_gallery

__all__ = ["GalleryEntry", "render_character_gallery"]
