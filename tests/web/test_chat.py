"""The chat playground over HTTP, on a tiny local model: streaming, swipes, edits, errors, security."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from fastapi import FastAPI
from fastapi.testclient import TestClient
from safetensors.torch import save_file

from characterlab.models import ActivationSpec, GenerationRequest, SteeringVector, load_model
from characterlab.models._engine import LocalEngine
from characterlab.web import _replies
from tests.web.conftest import csrf, sse_events, the_lab

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)> [x](javascript:alert(3))"


def _new_chat(client: TestClient, model: str, character_id: str = "", max_tokens: int = 8) -> str:
    response = client.post(
        "/chats",
        data={"model": model, "character_id": character_id, "max_tokens": str(max_tokens), "temperature": "0"},
        headers=csrf(client),
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return str(response.headers["location"]).rsplit("/", 1)[1]


# Short enough for a tiny model's 512-token context.
BO = """schema: characterlab/character@1
name: Bo
summary: A lighthouse keeper who talks about the sea.
greeting: Ahoy, {{user}}!
alternate_greetings: [Welcome to the lighthouse.]
"""


@pytest.fixture
def bo(app: FastAPI) -> str:
    return the_lab(app).store.save_character("Bo", BO, origin="created").id


def test_a_chat_opens_with_the_greeting_and_streams_a_reply(
    client: TestClient, app: FastAPI, tiny_llama: Path, bo: str
) -> None:
    chat_id = _new_chat(client, f"characterlab/{tiny_llama}", bo)
    store = the_lab(app).store
    [opening] = store.chat(chat_id).messages
    assert opening.role == "assistant" and opening.meta["greeting"]
    assert opening.swipes == ["Ahoy, User!", "Welcome to the lighthouse."] and opening.chosen == 0
    response = client.post(f"/chats/{chat_id}/send", json={"text": "Hello there!"}, headers=csrf(client))
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    names = [name for name, _ in events]
    assert names[-1] == "done" and "draft" in names
    drafts = [data["text"] for name, data in events if name == "draft"]
    assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(drafts))
    chat = store.chat(chat_id)
    assert [m.role for m in chat.messages] == ["assistant", "user", "assistant"]
    reply = chat.messages[2]
    assert reply.content == drafts[-1]
    assert reply.prompt is not None and reply.prompt[0]["role"] == "system" and "Bo" in reply.prompt[0]["content"]
    assert reply.prompt[-1] == {"role": "user", "content": "Hello there!"}
    assert reply.meta["rendered"].endswith(reply.meta["rendered"][-20:])  # the exact text a local model read
    done = events[-1][1]
    assert 'data-position="2"' in done["html"] and 'data-position="1"' in done["user_html"]


def test_drafts_come_at_most_once_an_interval_and_the_last_is_the_whole_reply(
    client: TestClient, app: FastAPI, tiny_llama: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def drafts_of_a_reply() -> tuple[list[str], float]:
        chat_id = _new_chat(client, f"characterlab/{tiny_llama}", max_tokens=60)
        started = time.perf_counter()
        response = client.post(f"/chats/{chat_id}/send", json={"text": "Tell a long story."}, headers=csrf(client))
        drafts = [data["text"] for name, data in sse_events(response.text) if name == "draft"]
        assert drafts and drafts[-1] == the_lab(app).store.chat(chat_id).messages[-1].content
        return drafts, time.perf_counter() - started

    monkeypatch.setattr(_replies, "DRAFT_INTERVAL_S", 0.0)
    monkeypatch.setattr(_replies, "DRAFTS_PER_SECOND", 1e9)
    every_token, _ = drafts_of_a_reply()
    monkeypatch.setattr(_replies, "DRAFT_INTERVAL_S", 0.3)
    spaced, elapsed = drafts_of_a_reply()
    assert len(spaced) <= 2 + elapsed / 0.3 < len(every_token)
    assert the_lab(app).streaming == 0


def test_regenerate_keeps_every_reply_and_swipes_between_them(
    client: TestClient, app: FastAPI, tiny_llama: Path
) -> None:
    chat_id = _new_chat(client, f"characterlab/{tiny_llama}")
    client.post(f"/chats/{chat_id}/settings", json={"temperature": 1.0, "max_tokens": 6}, headers=csrf(client))
    client.post(f"/chats/{chat_id}/send", json={"text": "Hi"}, headers=csrf(client))
    again = client.post(f"/chats/{chat_id}/regenerate", json={"position": 1}, headers=csrf(client))
    assert sse_events(again.text)[-1][0] == "done"
    reply = the_lab(app).store.chat(chat_id).messages[1]
    assert len(reply.swipes) == 2 and reply.chosen == 1
    shown = client.post(f"/chats/{chat_id}/messages/1/swipe", json={"index": 0}, headers=csrf(client))
    assert shown.status_code == 200 and "1/2" in shown.text
    assert client.post(f"/chats/{chat_id}/regenerate", json={"position": 0}, headers=csrf(client)).status_code == 409


def test_edit_delete_and_reply_to_the_conversation_as_it_stands(
    client: TestClient, app: FastAPI, tiny_llama: Path
) -> None:
    chat_id = _new_chat(client, f"characterlab/{tiny_llama}")
    client.post(f"/chats/{chat_id}/send", json={"text": "First"}, headers=csrf(client))
    edited = client.post(f"/chats/{chat_id}/messages/0/edit", json={"content": "Changed"}, headers=csrf(client))
    assert edited.status_code == 200 and "Changed" in edited.text
    assert client.post(f"/chats/{chat_id}/messages/1/delete", headers=csrf(client)).json() == {"turns": 1}
    assert [m.content for m in the_lab(app).store.chat(chat_id).messages] == ["Changed"]
    events = sse_events(client.post(f"/chats/{chat_id}/reply", headers=csrf(client)).text)
    assert events[-1][0] == "done"
    assert len(the_lab(app).store.chat(chat_id).messages) == 2
    assert client.post(f"/chats/{chat_id}/messages/9/delete", headers=csrf(client)).status_code == 404


def test_a_model_error_mid_stream_keeps_the_conversation_as_it_was(
    client: TestClient, app: FastAPI, tiny_llama: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat_id = _new_chat(client, f"characterlab/{tiny_llama}", max_tokens=12)
    client.post(f"/chats/{chat_id}/send", json={"text": "Before"}, headers=csrf(client))
    before = the_lab(app).store.chat(chat_id).messages
    real = LocalEngine._choose_tokens
    steps = [0]

    def failing(self: LocalEngine, *args: Any, **kwargs: Any) -> None:
        steps[0] += 1
        if steps[0] > 3:  # a few tokens have streamed by then
            raise RuntimeError("the GPU fell over")
        real(self, *args, **kwargs)

    monkeypatch.setattr(LocalEngine, "_choose_tokens", failing)
    events = sse_events(client.post(f"/chats/{chat_id}/send", json={"text": "Doomed"}, headers=csrf(client)).text)
    assert [name for name, _ in events][-1] == "error"
    assert "draft" in [name for name, _ in events]
    error = events[-1][1]
    assert "the GPU fell over" in error["error"] and error["text"] == "Doomed"
    assert the_lab(app).store.chat(chat_id).messages == before


def test_a_model_that_cannot_load_is_an_error_in_the_chat(client: TestClient, app: FastAPI, tmp_path: Path) -> None:
    chat_id = _new_chat(client, f"characterlab/{tmp_path / 'no-such-model'}")
    events = sse_events(client.post(f"/chats/{chat_id}/send", json={"text": "Hello?"}, headers=csrf(client)).text)
    assert events[-1][0] == "error" and "no-such-model" in events[-1][1]["error"]
    assert the_lab(app).store.chat(chat_id).messages == []


def test_text_is_escaped_in_the_chat_page(client: TestClient, app: FastAPI) -> None:
    store = the_lab(app).store
    chat = store.create_chat(model="characterlab/default", title=HOSTILE)
    store.add_message(chat.id, "user", HOSTILE, speaker=HOSTILE)
    store.add_message(chat.id, "assistant", HOSTILE, speaker="x", prompt=[{"role": "user", "content": HOSTILE}])
    html = client.get(f"/chats/{chat.id}").text
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_settings_are_checked_field_by_field(client: TestClient, app: FastAPI) -> None:
    chat = the_lab(app).store.create_chat(model="characterlab/default")
    bad = client.post(f"/chats/{chat.id}/settings", json={"temperature": 5, "max_tokens": 0}, headers=csrf(client))
    assert bad.status_code == 422
    assert "temperature" in bad.json()["error"] and "max_tokens" in bad.json()["error"]
    too_long = client.post(f"/chats/{chat.id}/send", json={"text": "x" * 20_001}, headers=csrf(client))
    assert too_long.status_code == 422 and "text" in too_long.json()["error"]


def test_a_chat_steers_its_replies_with_a_vector_file_the_lab_offers(
    client: TestClient, app: FastAPI, tiny_llama: Path, tmp_path: Path
) -> None:
    lab = the_lab(app)
    folder = tmp_path / "vectors"
    folder.mkdir()
    vector = 8 * torch.randn(64, generator=torch.Generator().manual_seed(5))  # the tiny model's width
    save_file({"layer.1": vector}, str(folder / "curious.safetensors"))
    (folder / "notes.txt").write_text("not a steering file")
    lab.settings.vectors = [folder]
    chat_id = _new_chat(client, f"characterlab/{tiny_llama}", max_tokens=8)
    page = client.get(f"/chats/{chat_id}").text
    assert '<option value="curious">curious</option>' in page and "notes" not in page
    client.post(f"/chats/{chat_id}/send", json={"text": "Hello"}, headers=csrf(client))
    steer = {"temperature": 0, "max_tokens": 8, "steering_file": "curious", "steering_alpha": 2.0}
    assert client.post(f"/chats/{chat_id}/settings", json=steer, headers=csrf(client)).status_code == 200
    again = client.post(f"/chats/{chat_id}/regenerate", json={"position": 1}, headers=csrf(client))
    assert sse_events(again.text)[-1][0] == "done"
    reply = lab.store.chat(chat_id).messages[1]
    assert reply.meta["steering_file"] == "curious" and reply.meta["steering_alpha"] == 2.0
    # The steered reply is what the engine writes under that steering for the same prompt, the plain one what it
    # writes without.
    engine = LocalEngine(load_model(str(tiny_llama)))
    prompt = tuple(engine.encode(reply.meta["rendered"], add_special_tokens=False))
    request = GenerationRequest(prompt_ids=prompt, max_new_tokens=8)
    with engine.steering([SteeringVector(layer=1, vector=vector, alpha=2.0)]):
        steered = engine.generate([request])[0].text.strip()
    plain = engine.generate([request])[0].text.strip()
    assert reply.swipes == [plain, steered] and plain != steered
    assert "steered by curious × 2.0" in client.get(f"/chats/{chat_id}").text


def test_each_reply_is_projected_on_the_watched_direction(
    client: TestClient, app: FastAPI, tiny_llama: Path, tmp_path: Path
) -> None:
    lab = the_lab(app)
    lab.settings.vectors = [tmp_path]
    vector = torch.randn(64, generator=torch.Generator().manual_seed(6))
    save_file({"layer.1": vector}, str(tmp_path / "axis.safetensors"))
    chat_id = _new_chat(client, f"characterlab/{tiny_llama}", max_tokens=6)
    watch = {"temperature": 0, "max_tokens": 6, "watch_file": "axis"}
    assert client.post(f"/chats/{chat_id}/settings", json=watch, headers=csrf(client)).status_code == 200
    events = sse_events(client.post(f"/chats/{chat_id}/send", json={"text": "Hello"}, headers=csrf(client)).text)
    assert events[-1][0] == "done"
    reply = lab.store.chat(chat_id).messages[1]
    engine = LocalEngine(load_model(str(tiny_llama)))
    prompt = tuple(engine.encode(reply.meta["rendered"], add_special_tokens=False))
    spec = ActivationSpec(layers=(1,), reduction="mean_response")
    state = engine.generate([GenerationRequest(prompt_ids=prompt, max_new_tokens=6, activations=spec)])[0].activations[
        1
    ]
    assert reply.meta["watch"] == {"1": pytest.approx(float(state @ (vector / vector.norm())), abs=1e-3)}
    assert "along axis:" in events[-1][1]["html"] and "(layer 1)" in events[-1][1]["html"]


def test_steering_settings_name_only_offered_files_on_local_models(
    client: TestClient, app: FastAPI, tiny_llama: Path, tmp_path: Path
) -> None:
    lab = the_lab(app)
    lab.settings.vectors = [tmp_path]
    save_file({"layer.0": torch.ones(64)}, str(tmp_path / "ones.safetensors"))
    chat = lab.store.create_chat(model=f"characterlab/{tiny_llama}")
    for name in ("missing", "../ones", "/etc/passwd"):
        answer = client.post(
            f"/chats/{chat.id}/settings",
            json={"temperature": 0, "max_tokens": 8, "steering_file": name},
            headers=csrf(client),
        )
        assert answer.status_code == 400 and "no steering file" in answer.json()["error"]
        watching = {"temperature": 0, "max_tokens": 8, "watch_file": name}
        answer = client.post(f"/chats/{chat.id}/settings", json=watching, headers=csrf(client))
        assert answer.status_code == 400 and "no steering file" in answer.json()["error"]
    api_chat = lab.store.create_chat(model="openai/gpt-4o-mini")
    refused = client.post(
        f"/chats/{api_chat.id}/settings",
        json={"temperature": 0, "max_tokens": 8, "steering_file": "ones"},
        headers=csrf(client),
    )
    assert refused.status_code == 400 and "local model" in refused.json()["error"]
    assert "Steering" not in client.get(f"/chats/{api_chat.id}").text
    # A file that went away after it was chosen: the reply fails with a clear error, the conversation stays.
    client.post(
        f"/chats/{chat.id}/settings",
        json={"temperature": 0, "max_tokens": 8, "steering_file": "ones"},
        headers=csrf(client),
    )
    (tmp_path / "ones.safetensors").unlink()
    events = sse_events(client.post(f"/chats/{chat.id}/send", json={"text": "Hi"}, headers=csrf(client)).text)
    assert events[-1][0] == "error" and "no longer" in events[-1][1]["error"]
    assert lab.store.chat(chat.id).messages == []


def test_changes_need_the_csrf_token_and_our_origin(client: TestClient, app: FastAPI) -> None:
    chat = the_lab(app).store.create_chat(model="characterlab/default")
    assert client.post(f"/chats/{chat.id}/delete").status_code == 403
    assert client.post(f"/chats/{chat.id}/delete", headers={"X-CSRF-Token": "forged"}).status_code == 403
    foreign = {**csrf(client), "Origin": "http://evil.example"}
    assert client.post(f"/chats/{chat.id}/delete", headers=foreign).status_code == 403
    assert client.post(f"/chats/{chat.id}/delete", headers=csrf(client), follow_redirects=False).status_code == 303


@pytest.mark.parametrize("chat_id", ["..%2F..%2Fetc%2Fpasswd", "nope", "a" * 80])
def test_unknown_or_malformed_ids_are_not_found(client: TestClient, chat_id: str) -> None:
    assert client.get(f"/chats/{chat_id}").status_code == 404


def test_pages_refuse_other_host_names(app: FastAPI) -> None:
    # A page elsewhere that resolves its own name to 127.0.0.1 (DNS rebinding) gets nothing.
    rebound = TestClient(app, base_url="http://attacker.example:8765")
    assert rebound.get("/").status_code == 400


def test_an_access_token_guards_every_page(tmp_path: Path) -> None:
    from characterlab.errors import CharacterlabError
    from characterlab.store import Store
    from characterlab.web import LabSettings, create_app

    store = Store(f"sqlite:///{tmp_path / 'lab.db'}")
    with pytest.raises(CharacterlabError, match="access token"):
        LabSettings(store=store, host="0.0.0.0")
    settings = LabSettings(store=store, host="0.0.0.0", token="s3cret-token", allowed_hosts=["lab.example"])
    client = TestClient(create_app(settings), base_url="http://lab.example")
    assert client.get("/").status_code == 401
    entered = client.get("/chats?token=s3cret-token", follow_redirects=False)
    assert entered.status_code == 303 and entered.headers["location"] == "/chats"
    assert client.get("/chats").status_code == 200  # the cookie carries it from now on
    assert (
        TestClient(create_app(settings), base_url="http://lab.example")
        .get("/", headers={"Authorization": "Bearer s3cret-token"})
        .status_code
        == 200
    )


def test_side_by_side_sends_each_turn_to_both_columns(
    client: TestClient, app: FastAPI, tiny_llama: Path, bo: str
) -> None:
    model = f"characterlab/{tiny_llama}"
    started = client.post(
        "/compare",
        data={
            "left_model": model,
            "right_model": model,
            "left_character": bo,
            "right_character": "",
            "max_tokens": "6",
        },
        headers=csrf(client),
        follow_redirects=False,
    )
    assert started.status_code == 303
    group = str(started.headers["location"]).rsplit("/", 1)[1]
    page = client.get(f"/compare/{group}")
    assert page.status_code == 200 and page.text.count('class="conversation column"') == 2
    events = sse_events(client.post(f"/compare/{group}/send", json={"text": "Same words"}, headers=csrf(client)).text)
    assert sorted(data["column"] for name, data in events if name == "done") == [0, 1]
    left, right = the_lab(app).store.chats(group_id=group)
    assert [m.role for m in the_lab(app).store.chat(left.id).messages] == ["assistant", "user", "assistant"]  # greeting
    assert [m.content for m in the_lab(app).store.chat(right.id).messages] == [
        "Same words",
        the_lab(app).store.chat(right.id).messages[1].content,
    ]
    assert client.get("/compare/nope").status_code == 404


def test_pages_carry_the_lab_s_icon(client: TestClient) -> None:
    assert '<link rel="icon" href="/static/favicon.svg"' in client.get("/chats").text
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
