"""Rendering the lab's pages: one Jinja2 environment, autoescaping everything, and the values every page needs."""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from characterlab import __version__
from characterlab.web._security import csrf_token

__all__ = ["environment", "page"]


@cache
def environment() -> Environment:
    """The templates of ``characterlab/web/templates`` (HTML autoescaped; an undefined name is an error)."""
    return Environment(
        loader=PackageLoader("characterlab.web", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def page(request: Request, template: str, *, status_code: int = 200, **values: Any) -> HTMLResponse:
    """Render a page of the lab with its CSRF token, the current path (for the navigation) and the version."""
    html = (
        environment()
        .get_template(template)
        .render(csrf_token=csrf_token(request), path=request.url.path, version=__version__, **values)
    )
    return HTMLResponse(html, status_code=status_code)
