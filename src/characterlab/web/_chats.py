"""The chat playground: start a chat with a character on a model, talk, regenerate, edit, delete, tune settings."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from pydantic import BaseModel, Field

from characterlab.dialogue import greeting
from characterlab.errors import CharacterlabError
from characterlab.stage import StageContext
from characterlab.store import ChatRecord, MessageRecord
from characterlab.web._events import SSE_HEADERS, sse
from characterlab.web._lab import Lab, lab_of
from characterlab.web._pages import environment, page
from characterlab.web._replies import ReplyJob, chat_settings, reply_events
from characterlab.web._security import require_csrf

__all__ = ["render_message", "router", "start_chat"]

router = APIRouter(dependencies=[Depends(require_csrf)])

LabDep = Annotated[Lab, Depends(lab_of)]

MAX_MESSAGE_CHARS = 20_000


class SendBody(BaseModel):
    """A user's turn."""

    text: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)


class EditBody(BaseModel):
    """New text for a turn."""

    content: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)


class SwipeBody(BaseModel):
    """Which of a turn's replies to show."""

    index: int = Field(ge=0)


class RegenerateBody(BaseModel):
    """Which assistant turn to write again."""

    position: int = Field(ge=0)


class SettingsBody(BaseModel):
    """A chat's generation settings."""

    temperature: float = Field(ge=0.0, le=2.0)
    max_tokens: int = Field(ge=1, le=4096)
    user_name: str = Field(default="User", min_length=1, max_length=80)
    steering_file: str = Field(default="", max_length=64)
    """A steering file offered by the lab (its name), or empty for none."""
    steering_alpha: float = Field(default=1.0, ge=-64.0, le=64.0)
    """1 adds each vector as the file holds it (for a `characterlab vectors` file: the whole difference of means)."""
    steering_positions: Literal["all", "generated"] = "all"
    watch_file: str = Field(default="", max_length=64)
    """A vectors file offered by the lab whose directions each reply is projected on, or empty for none."""


def render_message(message: MessageRecord, chat: ChatRecord) -> str:
    """One turn as the chat page shows it (escaped by the template)."""
    last = message.position >= len(chat.messages) - 1
    return environment().get_template("_message.html").render(message=message, chat=chat, last=last)


def start_chat(
    lab: Lab, *, model: str, character_id: str | None, group_id: str | None = None, settings: dict[str, Any]
) -> ChatRecord:
    """A new chat; a character's greeting is its first turn (its alternate greetings are the turn's swipes)."""
    title, speaker = "the bare model", ""
    opening: list[str] = []
    if character_id:
        record, character = lab.character(character_id)
        title, speaker = record.name, character.display_name  # the speaker's name as the replies will carry it
        user = str(settings.get("user_name", "User"))
        choices = range(len(character.alternate_greetings) + 1)
        opening = [text for n in choices if (text := greeting(character, StageContext(user_name=user, greeting=n)))]
    chat = lab.store.create_chat(
        model=model, character_id=character_id or None, title=title, settings=settings, group_id=group_id
    )
    if opening:
        lab.store.add_message(chat.id, "assistant", opening[0], speaker=speaker, meta={"greeting": True})
        for alternate in opening[1:]:
            lab.store.add_swipe(chat.id, 0, alternate, meta={"greeting": True})
        lab.store.choose_swipe(chat.id, 0, 0)
    return lab.store.chat(chat.id)


@router.get("/chats", response_class=HTMLResponse)
def chats_page(request: Request, lab: LabDep) -> HTMLResponse:
    """Every chat, and a form to start one."""
    return page(
        request,
        "chats.html",
        chats=[chat for chat in lab.store.chats(kind="chat") if chat.group_id is None],
        characters=lab.store.characters(),
        models=lab.settings.models,
        default_model=lab.settings.default_model,
        chosen=request.query_params.get("character", ""),
    )


@router.post("/chats")
def new_chat(
    lab: LabDep,
    model: Annotated[str, Form(min_length=3, max_length=300)],
    character_id: Annotated[str, Form(max_length=64)] = "",
    temperature: Annotated[float, Form(ge=0.0, le=2.0)] = 0.7,
    max_tokens: Annotated[int, Form(ge=1, le=4096)] = 200,
) -> RedirectResponse:
    """Start a chat and open it."""
    chat = start_chat(
        lab,
        model=model.strip(),
        character_id=character_id or None,
        settings={"temperature": temperature, "max_tokens": max_tokens},
    )
    return RedirectResponse(f"/chats/{chat.id}", status_code=303)


@router.get("/chats/{chat_id}", response_class=HTMLResponse)
def chat_page(request: Request, chat_id: str, lab: LabDep) -> HTMLResponse:
    """The playground for one chat."""
    chat = lab.store.chat(chat_id)
    character = lab.character(chat.character_id)[0] if chat.character_id else None
    return page(
        request,
        "chat.html",
        chat=chat,
        character=character,
        settings=chat_settings(chat),
        steerable=chat.model.startswith("characterlab/"),
        steering_files=sorted(lab.steering_files()),
        vector_folders=", ".join(str(folder) for folder in lab.settings.vectors),
        messages_html=[render_message(message, chat) for message in chat.messages],
    )


@router.post("/chats/{chat_id}/send")
async def send(chat_id: str, body: SendBody, lab: LabDep) -> StreamingResponse:
    """Add the user's turn and stream the reply."""
    chat = lab.store.chat(chat_id, turns_only=True)
    if chat.messages and chat.messages[-1].role == "user":
        raise HTTPException(409, "the last turn is already yours: ask for a reply, or edit it")
    name = str(chat_settings(chat)["user_name"])
    user = lab.store.add_message(chat_id, "user", body.text, speaker=name)
    return _stream(lab, ReplyJob(chat.with_turn(user), user.position + 1, "new", sent_text=body.text))


@router.post("/chats/{chat_id}/reply")
async def reply(chat_id: str, lab: LabDep) -> StreamingResponse:
    """Stream a reply to the conversation as it stands (after an edit or a deletion)."""
    chat = lab.store.chat(chat_id, turns_only=True)
    return _stream(lab, ReplyJob(chat, len(chat.messages), "new"))


@router.post("/chats/{chat_id}/regenerate")
async def regenerate(chat_id: str, body: RegenerateBody, lab: LabDep) -> StreamingResponse:
    """Write another reply for the last turn, kept beside the earlier ones."""
    chat = lab.store.chat(chat_id, turns_only=True)
    if body.position != len(chat.messages) - 1 or chat.messages[body.position].role != "assistant":
        raise HTTPException(409, "only the last reply can be written again")
    return _stream(lab, ReplyJob(chat, body.position, "swipe"))


@router.post("/chats/{chat_id}/messages/{position}/edit", response_class=HTMLResponse)
def edit(chat_id: str, position: int, body: EditBody, lab: LabDep) -> HTMLResponse:
    """Replace a turn's text; returns the turn's new HTML."""
    lab.store.edit_message(chat_id, position, body.content)
    return _turn_html(lab, chat_id, position)


@router.post("/chats/{chat_id}/messages/{position}/delete")
def delete(chat_id: str, position: int, lab: LabDep) -> dict[str, int]:
    """Delete a turn and every turn after it."""
    chat = lab.store.chat(chat_id)
    if not 0 <= position < len(chat.messages):
        raise HTTPException(404, f"chat {chat_id} has no turn {position}")
    lab.store.truncate(chat_id, position)
    return {"turns": position}


@router.post("/chats/{chat_id}/messages/{position}/swipe", response_class=HTMLResponse)
def swipe(chat_id: str, position: int, body: SwipeBody, lab: LabDep) -> HTMLResponse:
    """Show another of a turn's replies; returns the turn's new HTML."""
    lab.store.choose_swipe(chat_id, position, body.index)
    return _turn_html(lab, chat_id, position)


@router.post("/chats/{chat_id}/settings")
def update_settings(chat_id: str, body: SettingsBody, lab: LabDep) -> dict[str, Any]:
    """Change the chat's temperature, reply length, user name and steering for the replies to come.

    Raises:
        CharacterlabError: Steering on a model that is not local, or a steering file the lab does not offer.
    """
    chat = lab.store.chat(chat_id)
    for name in (body.steering_file, body.watch_file):
        if not name:
            continue
        if not chat.model.startswith("characterlab/"):
            raise CharacterlabError(
                f"steering and watching need a local model (characterlab/...); {chat.model} is not one"
            )
        if name not in lab.steering_files():
            raise CharacterlabError(
                f"there is no steering file {name!r}; the lab offers the .safetensors files in "
                + (", ".join(str(folder) for folder in lab.settings.vectors) or "its --vectors folders (none given)")
            )
    lab.store.update_chat(chat_id, settings=body.model_dump())
    return chat_settings(lab.store.chat(chat_id))


@router.post("/chats/{chat_id}/delete")
def delete_chat(chat_id: str, lab: LabDep) -> RedirectResponse:
    """Delete the chat."""
    lab.store.delete_chat(chat_id)
    return RedirectResponse("/chats", status_code=303)


def _turn_html(lab: Lab, chat_id: str, position: int) -> HTMLResponse:
    chat = lab.store.chat(chat_id)
    return HTMLResponse(render_message(chat.messages[position], chat))


def _stream(lab: Lab, job: ReplyJob) -> StreamingResponse:
    events = reply_events(lab, job, sse, render_message)
    return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)
