"""The lab's front page: what there is to do, and what was done last."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from characterlab.web._lab import Lab, lab_of
from characterlab.web._pages import page

__all__ = ["router"]

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def home(request: Request, lab: Annotated[Lab, Depends(lab_of)]) -> HTMLResponse:
    """The front page."""
    store = lab.store
    return page(
        request,
        "home.html",
        characters=store.characters()[:8],
        chats=store.chats(kind="chat")[:6],
        shared=store.shared()[:6],
    )
