"""Side by side: the same user turns sent to two models or two characters, their replies in columns.

A comparison is a group of chats (one per column) that receive every user turn together; both replies stream at
once, and a local model serves them in one batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse

from characterlab.store import ChatRecord, NotFoundError, new_id
from characterlab.web._chats import SendBody, render_message, start_chat
from characterlab.web._events import SSE_HEADERS, sse
from characterlab.web._lab import Lab, lab_of
from characterlab.web._pages import page
from characterlab.web._replies import ReplyJob, reply_events
from characterlab.web._security import require_csrf

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(require_csrf)])

LabDep = Annotated[Lab, Depends(lab_of)]


@router.get("/compare", response_class=HTMLResponse)
def compare_page(request: Request, lab: LabDep) -> HTMLResponse:
    """Earlier comparisons, and a form to start one."""
    groups: dict[str, list[ChatRecord]] = {}
    for chat in lab.store.chats(kind="chat"):
        if chat.group_id is not None:
            groups.setdefault(chat.group_id, []).append(chat)
    return page(
        request,
        "compare.html",
        groups=groups,
        characters=lab.store.characters(),
        models=lab.settings.models,
        default_model=lab.settings.default_model,
    )


@router.post("/compare")
def new_comparison(
    lab: LabDep,
    left_model: Annotated[str, Form(min_length=3, max_length=300)],
    right_model: Annotated[str, Form(min_length=3, max_length=300)],
    left_character: Annotated[str, Form(max_length=64)] = "",
    right_character: Annotated[str, Form(max_length=64)] = "",
    temperature: Annotated[float, Form(ge=0.0, le=2.0)] = 0.7,
    max_tokens: Annotated[int, Form(ge=1, le=4096)] = 200,
) -> RedirectResponse:
    """Start a comparison of two (character, model) pairs and open it."""
    group = new_id()
    settings = {"temperature": temperature, "max_tokens": max_tokens}
    for model, character in ((left_model, left_character), (right_model, right_character)):
        start_chat(lab, model=model.strip(), character_id=character or None, group_id=group, settings=settings)
    return RedirectResponse(f"/compare/{group}", status_code=303)


@router.get("/compare/{group_id}", response_class=HTMLResponse)
def comparison_page(request: Request, group_id: str, lab: LabDep) -> HTMLResponse:
    """The two columns of a comparison."""
    chats = _group(lab, group_id)
    columns = [
        {"chat": chat, "messages_html": [render_message(message, chat) for message in chat.messages]} for chat in chats
    ]
    return page(request, "comparison.html", group_id=group_id, columns=columns)


@router.post("/compare/{group_id}/send")
async def send_both(group_id: str, body: SendBody, lab: LabDep) -> StreamingResponse:
    """Add the user's turn to every column and stream all the replies, each event tagged with its column."""
    chats = _group(lab, group_id, turns_only=True)
    jobs = []
    for column, chat in enumerate(chats):
        user = lab.store.add_message(chat.id, "user", body.text, speaker=str(chat.settings.get("user_name", "User")))
        jobs.append(ReplyJob(chat.with_turn(user), user.position + 1, "new", sent_text=body.text, column=column))
    return StreamingResponse(_merged(lab, jobs), media_type="text/event-stream", headers=SSE_HEADERS)


async def _merged(lab: Lab, jobs: list[ReplyJob]) -> AsyncIterator[str]:
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    async def pump(job: ReplyJob) -> None:
        try:
            async for event in reply_events(lab, job, sse, render_message):
                await queue.put(event)
        finally:
            await queue.put(None)

    tasks = [asyncio.create_task(pump(job)) for job in jobs]
    finished = 0
    while finished < len(tasks):
        event = await queue.get()
        if event is None:
            finished += 1
        else:
            yield event


def _group(lab: Lab, group_id: str, *, turns_only: bool = False) -> list[ChatRecord]:
    chats = [lab.store.chat(chat.id, turns_only=turns_only) for chat in lab.store.chats(group_id=group_id)]
    if not chats:
        raise NotFoundError(f"no comparison with id {group_id[:80]!r}")
    return chats
