"""Sharing: publish a chat (or a side-by-side group) as a self-contained page and a JSON file, and list them.

A shared page is served under its own Content-Security-Policy (inline styles only, never a script), so even a
page made by an older, buggier version of the lab cannot run anything in a reader's browser.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from characterlab.characters import Character
from characterlab.store import ChatRecord, NotFoundError
from characterlab.web._lab import Lab, lab_of
from characterlab.web._pages import page
from characterlab.web._security import SHARED_PAGE_POLICY, require_csrf
from characterlab.web._transcript_page import compare_document, render_transcript_page, transcript_document

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(require_csrf)])

LabDep = Annotated[Lab, Depends(lab_of)]


def _character(lab: Lab, chat: ChatRecord) -> Character | None:
    if not chat.character_id:
        return None
    try:
        return lab.character(chat.character_id)[1]
    except NotFoundError:
        # The character was deleted since: the conversation is still worth sharing without it.
        return None


def _publish(lab: Lab, document: dict[str, Any]) -> JSONResponse:
    html = render_transcript_page(document)
    text = json.dumps(document, ensure_ascii=False, indent=2)
    shared = lab.store.share(document["kind"], str(document["title"])[:200], html, text)
    return JSONResponse({"id": shared.id, "page": f"/s/{shared.id}", "json": f"/s/{shared.id}.json"})


@router.post("/share/chat/{chat_id}")
def share_chat(chat_id: str, lab: LabDep) -> JSONResponse:
    """Publish a chat (or a dialogue): answers with its id and where its page and JSON are."""
    chat = lab.store.chat(chat_id)
    return _publish(lab, transcript_document(chat, _character(lab, chat)))


@router.post("/share/compare/{group_id}")
def share_compare(group_id: str, lab: LabDep) -> JSONResponse:
    """Publish the chats of a side-by-side group as one page with a column each."""
    members = lab.store.chats(group_id=group_id)
    if not members:
        raise NotFoundError(f"no side-by-side group with id {group_id[:80]!r}")
    columns = []
    for member in members:
        chat = lab.store.chat(member.id)
        columns.append(transcript_document(chat, _character(lab, chat)))
    return _publish(lab, compare_document(columns))


@router.get("/shared", response_class=HTMLResponse)
def gallery(request: Request, lab: LabDep) -> HTMLResponse:
    """Everything shared from this lab, newest first."""
    return page(request, "shared.html", shared=lab.store.shared())


# Declared before the page route: "/s/{shared_id}" would otherwise take "ID.json" as an id.
@router.get("/s/{shared_id}.json")
def shared_json(shared_id: str, lab: LabDep) -> Response:
    """A shared item's JSON document, as a file to download."""
    record, _, text = lab.store.shared_page(shared_id)
    return Response(
        text,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="characterlab-{record.id}.json"'},
    )


@router.get("/s/{shared_id}", response_class=HTMLResponse)
def shared_page(shared_id: str, lab: LabDep) -> HTMLResponse:
    """A shared item's page, under the policy for shared pages (no scripts at all)."""
    _, html, _ = lab.store.shared_page(shared_id)
    return HTMLResponse(html, headers={"Content-Security-Policy": SHARED_PAGE_POLICY})
