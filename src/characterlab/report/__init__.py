"""Self-contained HTML pages a person can open: everything inlined, nothing fetched."""

from typing import TYPE_CHECKING

from characterlab.report._character_gallery import GalleryEntry, render_character_gallery

if TYPE_CHECKING:
    from characterlab.report._study_report import build_study_report, write_study_report
    from characterlab.report._training_report import build_training_report, write_training_report

__all__ = [
    "GalleryEntry",
    "build_study_report",
    "build_training_report",
    "render_character_gallery",
    "write_study_report",
    "write_training_report",
]


def __getattr__(name: str) -> object:
    # The study report pulls in Inspect, pandas and matplotlib (seconds to import): it is loaded on first use so
    # that importing this package (the CLI does, for the gallery) stays fast.
    if name in ("build_study_report", "write_study_report"):
        from characterlab.report import _study_report

        return getattr(_study_report, name)
    if name in ("build_training_report", "write_training_report"):
        from characterlab.report import _training_report

        return getattr(_training_report, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
