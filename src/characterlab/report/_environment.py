"""The Jinja2 environment every report renders with: autoescaped, since model output and card text are untrusted."""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

__all__ = ["report_environment"]


@cache
def report_environment() -> Environment:
    """The shared, autoescaping template environment of ``characterlab/report/templates``."""
    return Environment(
        loader=PackageLoader("characterlab.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
