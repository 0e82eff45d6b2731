"""Dialogues in the lab: two models (or characters) talk; watch the turns arrive and their attractor measures.

A dialogue is stored as a chat of kind ``dialogue``: its participants, opener and stop rule in the settings, each
turn a message as soon as it is taken. A run that stops (an error, a closed tab, a stopped server) loses nothing:
"Run" goes on from the last stored turn.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from inspect_ai.model import GenerateConfig, Model

from characterlab.dialogue import Conversation, ModelSpeaker, StopRule, Turn
from characterlab.errors import CharacterlabError
from characterlab.store import ChatRecord
from characterlab.web._chats import render_message
from characterlab.web._events import SSE_HEADERS, sse
from characterlab.web._lab import Lab, lab_of
from characterlab.web._pages import environment, page
from characterlab.web._security import require_csrf

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(require_csrf)])

LabDep = Annotated[Lab, Depends(lab_of)]

DEFAULT_OPENER = "Hello! You are talking with another AI. Say whatever you like."
ATTRACTOR_THRESHOLD = 20.0
"""Bliss-lexicon matches per 1,000 words from which a turn counts as in the attractor (as the dialogue task)."""
ATTRACTOR_HOLD = 2


@router.get("/dialogues", response_class=HTMLResponse)
def dialogues_page(request: Request, lab: LabDep) -> HTMLResponse:
    """Earlier dialogues, and a form to start one."""
    return page(
        request,
        "dialogues.html",
        dialogues=lab.store.chats(kind="dialogue"),
        characters=lab.store.characters(),
        models=lab.settings.models,
        default_model=lab.settings.default_model,
        default_opener=DEFAULT_OPENER,
    )


@router.post("/dialogues")
def new_dialogue(
    lab: LabDep,
    first_model: Annotated[str, Form(min_length=3, max_length=300)],
    second_model: Annotated[str, Form(min_length=3, max_length=300)],
    first_character: Annotated[str, Form(max_length=64)] = "",
    second_character: Annotated[str, Form(max_length=64)] = "",
    opener: Annotated[str, Form(min_length=1, max_length=4000)] = DEFAULT_OPENER,
    max_turns: Annotated[int, Form(ge=2, le=60)] = 12,
    max_tokens: Annotated[int, Form(ge=1, le=1024)] = 120,
    temperature: Annotated[float, Form(ge=0.0, le=2.0)] = 0.7,
) -> RedirectResponse:
    """Set up a dialogue of two participants and open it (it runs when asked to)."""
    models = [first_model.strip(), second_model.strip()]
    characters = [first_character or None, second_character or None]
    names = [
        lab.store.character(character_id).name if character_id else model.rsplit("/", 1)[-1]
        for model, character_id in zip(models, characters, strict=True)
    ]
    if names[0] == names[1]:
        names = [f"{names[0]} (1)", f"{names[1]} (2)"]
    participants = [
        {"name": name, "model": model, "character_id": character_id}
        for name, model, character_id in zip(names, models, characters, strict=True)
    ]
    settings = {
        "participants": participants,
        "opener": opener,
        "max_turns": max_turns,
        "max_tokens": max_tokens,
        "temperature": temperature,
        "seed": 0,
    }
    title = f"{names[0]} and {names[1]}"
    chat = lab.store.create_chat(model=models[0], kind="dialogue", title=title, settings=settings)
    return RedirectResponse(f"/dialogues/{chat.id}", status_code=303)


@router.get("/dialogues/{dialogue_id}", response_class=HTMLResponse)
def dialogue_page(request: Request, dialogue_id: str, lab: LabDep) -> HTMLResponse:
    """A dialogue's turns so far, its measures, and the button that runs (or goes on with) it."""
    chat = _dialogue(lab, dialogue_id)
    return page(
        request,
        "dialogue.html",
        chat=chat,
        settings=chat.settings,
        turns_html=[render_message(message, chat) for message in chat.messages],
        metrics_html=_metrics_html(chat),
        finished=chat.settings.get("stop_reason"),
        running=dialogue_id in lab.running_dialogues,
    )


@router.post("/dialogues/{dialogue_id}/run")
async def run_dialogue(dialogue_id: str, lab: LabDep) -> StreamingResponse:
    """Take the dialogue's remaining turns, streaming each as it is stored, then its measures."""
    chat = _dialogue(lab, dialogue_id)
    running = lab.running_dialogues
    if dialogue_id in running:
        raise HTTPException(409, "this dialogue is already running")
    models = {p["model"]: await lab.pool.plain(p["model"]) for p in chat.settings["participants"]}
    conversation = _conversation(lab, chat, models)
    if conversation.finished:
        raise HTTPException(409, f"this dialogue has finished ({conversation.stop_reason})")
    running.add(dialogue_id)
    return StreamingResponse(
        _turn_events(lab, dialogue_id, conversation), media_type="text/event-stream", headers=SSE_HEADERS
    )


async def _turn_events(lab: Lab, dialogue_id: str, conversation: Conversation) -> AsyncIterator[str]:
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    async def take_turns() -> None:
        # Each turn is stored as soon as it is taken, whoever is still watching.
        try:
            while not conversation.finished:
                await queue.put(sse("speaking", {"speaker": conversation.next_speaker.name}))
                turn = await conversation.step()
                lab.store.add_message(
                    dialogue_id, "assistant", turn.text, speaker=turn.speaker, meta={"ended": turn.ended}
                )
                chat = lab.store.chat(dialogue_id)
                await queue.put(sse("turn", {"html": render_message(chat.messages[-1], chat)}))
            lab.store.update_chat(dialogue_id, settings={"stop_reason": conversation.stop_reason})
            chat = lab.store.chat(dialogue_id)
            await queue.put(sse("finished", {"reason": conversation.stop_reason, "metrics_html": _metrics_html(chat)}))
        except Exception as error:  # a provider's failure: say so; the turns taken are stored already
            message = str(error) if isinstance(error, CharacterlabError) else f"{type(error).__name__}: {error}"
            await queue.put(sse("error", {"error": message[:500]}))
        finally:
            lab.running_dialogues.discard(dialogue_id)
            await queue.put(None)

    task = asyncio.create_task(take_turns())
    lab.background.add(task)
    task.add_done_callback(lab.background.discard)
    while (event := await queue.get()) is not None:
        yield event


def _dialogue(lab: Lab, dialogue_id: str) -> ChatRecord:
    chat = lab.store.chat(dialogue_id)
    if chat.kind != "dialogue":
        raise HTTPException(404, f"chat {dialogue_id} is not a dialogue")
    return chat


def _conversation(lab: Lab, chat: ChatRecord, models: dict[str, Model]) -> Conversation:
    """The stored dialogue as a conversation that goes on from its stored turns."""
    settings = chat.settings
    participants = settings["participants"]
    config = GenerateConfig(
        max_tokens=int(settings["max_tokens"]), temperature=float(settings["temperature"]), seed=settings.get("seed")
    )
    speakers = []
    for index, participant in enumerate(participants):
        other = participants[1 - index]["name"]
        character = lab.character(participant["character_id"])[1] if participant.get("character_id") else None
        speakers.append(
            ModelSpeaker(participant["name"], models[participant["model"]], character, config=config, user_name=other)
        )
    turns = [
        Turn(index=m.position, speaker=m.speaker, text=m.content, ended=bool(m.meta.get("ended")))
        for m in chat.messages
    ]
    return Conversation(speakers, str(settings["opener"]), StopRule(max_turns=int(settings["max_turns"])), turns=turns)


def _metrics_html(chat: ChatRecord) -> str:
    """The attractor measures of the turns so far: a row per turn, and when the bliss lexicon took over."""
    from characterlab.analysis import DialogueTurn, time_to_attractor, turn_metrics

    if not chat.messages:
        return ""
    table = turn_metrics([DialogueTurn(speaker=m.speaker, text=m.content) for m in chat.messages])
    reached = time_to_attractor(table["lexicon_rate"].tolist(), ATTRACTOR_THRESHOLD, hold=ATTRACTOR_HOLD)
    rows = [
        {column: ("" if isinstance(value, float) and math.isnan(value) else value) for column, value in row.items()}
        for row in table.to_dict(orient="records")
    ]
    return (
        environment()
        .get_template("_dialogue_metrics.html")
        .render(rows=rows, reached=reached, threshold=ATTRACTOR_THRESHOLD, hold=ATTRACTOR_HOLD)
    )
