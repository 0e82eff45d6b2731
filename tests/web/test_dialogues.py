"""Dialogues in the lab, on a tiny model: set up, run turn by turn, measures, resuming after an error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from characterlab.models._engine import LocalEngine
from tests.web.conftest import csrf, sse_events, the_lab


def _new_dialogue(client: TestClient, model: str, turns: int = 4) -> str:
    response = client.post(
        "/dialogues",
        data={"first_model": model, "second_model": model, "max_turns": str(turns), "max_tokens": "5"},
        headers=csrf(client),
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return str(response.headers["location"]).rsplit("/", 1)[1]


def test_a_dialogue_runs_turn_by_turn_and_shows_its_measures(
    client: TestClient, app: FastAPI, tiny_llama: Path
) -> None:
    dialogue_id = _new_dialogue(client, f"characterlab/{tiny_llama}")
    chat = the_lab(app).store.chat(dialogue_id)
    first, second = (p["name"] for p in chat.settings["participants"])
    assert first != second  # the same model twice gets two names
    events = sse_events(client.post(f"/dialogues/{dialogue_id}/run", headers=csrf(client)).text)
    names = [name for name, _ in events]
    assert names == ["speaking", "turn"] * 4 + ["finished"]
    assert [data["speaker"] for name, data in events if name == "speaking"] == [first, second, first, second]
    finished = events[-1][1]
    assert finished["reason"] in ("max_turns", "repetition", "all_ended")
    assert "Attractor measures" in finished["metrics_html"] and finished["metrics_html"].count("<tr>") == 5
    stored = the_lab(app).store.chat(dialogue_id)
    assert [m.speaker for m in stored.messages] == [first, second, first, second]
    page = client.get(f"/dialogues/{dialogue_id}").text
    assert "Finished" in page and "Attractor measures" in page
    assert client.post(f"/dialogues/{dialogue_id}/run", headers=csrf(client)).status_code == 409


def test_a_dialogue_cut_short_by_an_error_keeps_its_turns_and_goes_on(
    client: TestClient, app: FastAPI, tiny_llama: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dialogue_id = _new_dialogue(client, f"characterlab/{tiny_llama}", turns=4)
    real = LocalEngine._prefill
    calls = [0]

    def failing_third(self: LocalEngine, *args: Any, **kwargs: Any) -> Any:
        calls[0] += 1  # one prompt read per turn: the turns are taken one after another
        if calls[0] == 3:
            raise RuntimeError("out of memory")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(LocalEngine, "_prefill", failing_third)
    events = sse_events(client.post(f"/dialogues/{dialogue_id}/run", headers=csrf(client)).text)
    assert events[-1][0] == "error" and "out of memory" in events[-1][1]["error"]
    kept = [m.content for m in the_lab(app).store.chat(dialogue_id).messages]
    assert len(kept) == 2
    again = sse_events(client.post(f"/dialogues/{dialogue_id}/run", headers=csrf(client)).text)
    assert again[-1][0] == "finished"
    assert [m.content for m in the_lab(app).store.chat(dialogue_id).messages][:2] == kept
    assert len(the_lab(app).store.chat(dialogue_id).messages) == 4


def test_dialogue_pages_escape_and_refuse_other_chats(client: TestClient, app: FastAPI) -> None:
    store = the_lab(app).store
    chat = store.create_chat(model="characterlab/default", title="x")
    assert client.get(f"/dialogues/{chat.id}").status_code == 404
    hostile = "<script>alert(1)</script>"
    settings = {
        "participants": [
            {"name": hostile, "model": "characterlab/default", "character_id": None},
            {"name": "B", "model": "characterlab/default", "character_id": None},
        ],
        "opener": hostile,
        "max_turns": 4,
        "max_tokens": 5,
        "temperature": 0.7,
    }
    dialogue = store.create_chat(model="characterlab/default", kind="dialogue", title=hostile, settings=settings)
    store.add_message(dialogue.id, "assistant", hostile, speaker=hostile)
    html = client.get(f"/dialogues/{dialogue.id}").text
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert client.get("/dialogues").status_code == 200
