"""Writing a chat's next reply while the browser watches: generation, drafts, and what is stored when.

A reply is generated in a task of its own, so a browser that goes away mid-reply does not lose it: the reply is
stored when it is complete, whoever is still listening. A model error leaves the conversation as it was before
the request (a user turn sent with it is taken back, and its text returned so the page can offer it again).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from inspect_ai.model import GenerateConfig

from characterlab.dialogue import character_reply
from characterlab.errors import CharacterlabError
from characterlab.stage import FrameMessage, StageContext
from characterlab.store import ChatRecord, MessageRecord
from characterlab.web._lab import Lab

__all__ = ["ReplyJob", "chat_settings", "reply_events"]

Mode = Literal["new", "swipe"]

DRAFT_INTERVAL_S = 0.05
"""The least time between two drafts of a reply after its first: 20 a second look smooth."""

DRAFTS_PER_SECOND = 100
"""About the most drafts the lab sends a second, all replies together: with many chats streaming, each reply's
drafts come further apart (20 chats: 5 a second each). Every event costs the server Python work and a socket
write, and the server shares its interpreter and CPU with a local model: per-token events for 20 chats would
take time from the model that everyone's next reply waits for. The last draft is always the newest text."""


@dataclass(frozen=True)
class ReplyJob:
    """A reply to write: after the turns before ``position``, as a new turn (``new``) or another swipe."""

    chat: ChatRecord
    """The conversation as the request left it (with the user's turn it sent), its turns only
    (``Store.chat(..., turns_only=True)``): the reply reads its history here, so a turn reads the database once."""
    position: int
    mode: Mode
    sent_text: str | None = None
    """The user's turn sent with this request (taken back if the reply fails)."""
    column: int | None = None
    """Which column of a side-by-side the reply belongs to."""

    @property
    def chat_id(self) -> str:
        """The conversation's id."""
        return self.chat.id


def chat_settings(chat: ChatRecord) -> dict[str, Any]:
    """A chat's generation settings, with the lab's defaults for those never set."""
    return {
        "temperature": 0.7,
        "max_tokens": 200,
        "frame": "auto",
        "user_name": "User",
        "seed": None,
        "steering_file": "",
        "steering_alpha": 1.0,
        "steering_positions": "all",
        "watch_file": "",
        **chat.settings,
    }


async def reply_events(
    lab: Lab,
    job: ReplyJob,
    event: Callable[[str, dict[str, Any]], str],
    render: Callable[[MessageRecord, ChatRecord], str],
) -> AsyncIterator[str]:
    """Stream ``draft`` events as the reply grows, then ``done`` (with the stored turn's HTML) or ``error``."""
    drafts: asyncio.Queue[str | None] = asyncio.Queue()
    task = asyncio.create_task(_write_reply(lab, job, drafts.put_nowait))
    # Referenced by the lab, so a reply whose browser went away is still finished and stored.
    lab.background.add(task)
    task.add_done_callback(lab.background.discard)
    task.add_done_callback(lambda _: drafts.put_nowait(None))
    column = {} if job.column is None else {"column": job.column}
    loop = asyncio.get_running_loop()
    next_draft = 0.0
    lab.streaming += 1
    try:
        while True:
            text = await drafts.get()
            if text is None:
                break
            pause = next_draft - loop.time()
            if pause > 0:
                # The first draft goes at once; later ones wait out the interval while tokens gather.
                await asyncio.sleep(pause)
            text = _newest(drafts, text)
            next_draft = loop.time() + max(DRAFT_INTERVAL_S, lab.streaming / DRAFTS_PER_SECOND)
            yield event("draft", {"text": text, **column})
    finally:
        lab.streaming -= 1
    error = task.exception()
    if error is not None:
        yield event("error", {"error": _message(error), "text": job.sent_text, **column})
        return
    message = task.result()
    chat = job.chat.with_turn(message)
    done: dict[str, Any] = {"position": message.position, "html": render(message, chat), **column}
    if job.sent_text is not None:
        # The user's turn, as stored: the page swaps its stand-in bubble for it (with its edit/delete actions).
        done["user_html"] = render(chat.messages[job.position - 1], chat)
    yield event("done", done)


def _newest(drafts: asyncio.Queue[str | None], text: str) -> str:
    """The newest draft waiting (or ``text``); the end marker, when met, stays queued."""
    while not drafts.empty():
        newer = drafts.get_nowait()
        if newer is None:
            drafts.put_nowait(None)
            break
        text = newer
    return text


async def _write_reply(lab: Lab, job: ReplyJob, on_text: Callable[[str], None]) -> MessageRecord:
    store, chat = lab.store, job.chat
    settings = chat_settings(chat)
    try:
        character = lab.character(chat.character_id)[1] if chat.character_id else None
        frame, model = await lab.pool.get(chat.model, settings["frame"])
        history = [FrameMessage(role=m.role, content=m.content) for m in chat.messages[: job.position]]
        context = StageContext(user_name=settings["user_name"], greeting=None, history=history)
        config = GenerateConfig(
            temperature=settings["temperature"], max_tokens=settings["max_tokens"], seed=settings["seed"]
        )
        steering = lab.steering(settings)
        watched = lab.watched(settings)
        started = time.time()
        reply = await character_reply(
            model,
            frame,
            character,
            context,
            config=config,
            on_text=on_text,
            steering=steering,
            watch_layers=sorted(watched),
        )
    except BaseException:
        if job.sent_text is not None:
            with contextlib.suppress(CharacterlabError):
                store.truncate(job.chat_id, job.position - 1)
        raise
    meta = {"model": chat.model, "frame": frame, "seconds": round(reply.seconds, 3), "at": started, **settings}
    if reply.rendered is not None:
        meta["rendered"] = reply.rendered
    if watched and reply.activations:
        # How far along each watched direction the reply's mean state lies (scalar projection, per block).
        meta["watch"] = {
            str(layer): round(float(torch.tensor(reply.activations[layer]) @ (vector / vector.norm())), 4)
            for layer, vector in watched.items()
            if layer in reply.activations
        }
    speaker = character.display_name if character is not None else chat.model
    if job.mode == "swipe":
        return store.add_swipe(job.chat_id, job.position, reply.text, prompt=reply.prompt, meta=meta)
    return store.add_message(job.chat_id, "assistant", reply.text, speaker=speaker, prompt=reply.prompt, meta=meta)


def _message(error: BaseException) -> str:
    if isinstance(error, CharacterlabError):
        return str(error)
    # Anything else is a provider's failure (an API error, a timeout): say what it was, briefly.
    return f"the model failed: {type(error).__name__}: {str(error)[:300]}"
