"""Sharing chats: the self-contained page, its JSON, the gallery, and what a shared page must never carry."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from characterlab.characters import parse_character
from characterlab.store import ChatRecord, Store
from characterlab.web._security import SHARED_PAGE_POLICY
from characterlab.web._transcript_page import (
    public_model_name,
    render_transcript_page,
    scrub_text,
    transcript_document,
)
from tests.web.conftest import EXAMPLES, csrf, the_lab

KEY = "sk-abcdefghijklmnopqrstuvwxyz123456"
HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    "![x](javascript:alert(1))",
]
LINCOLN = EXAMPLES / "lincoln.character.yaml"


@pytest.fixture(autouse=True)
def _routers(app: FastAPI) -> None:
    """Register the sharing routes if the app does not yet (they are included there by the lead)."""
    from characterlab.web import _sharing

    if not any(getattr(route, "path", None) == "/shared" for route in app.routes):
        app.include_router(_sharing.router)


def _hostile_chat(store: Store, *, group_id: str | None = None, model: str | None = None) -> ChatRecord:
    yaml = LINCOLN.read_text(encoding="utf-8")
    character = store.save_character("Abraham Lincoln", yaml, origin="file: lincoln.character.yaml")
    chat = store.create_chat(
        model=model or f"characterlab/{Path.home()}/models/tiny-lincoln",
        character_id=character.id,
        title="Abraham Lincoln",
        settings={"temperature": 0.7, "api_key": KEY, "user_name": "Sam", "steer": {"path": str(Path.home())}},
        group_id=group_id,
    )
    store.add_message(chat.id, "assistant", "Good day to you, Sam.", speaker="Abraham Lincoln")
    for text in HOSTILE:
        store.add_message(chat.id, "user", text, speaker="Sam")
        store.add_message(chat.id, "assistant", f"You wrote {text}", speaker="Abraham Lincoln")
    store.add_message(chat.id, "user", f"my key is {KEY} and my files are in {Path.home()}/notes", speaker="Sam")
    store.add_swipe(chat.id, 0, "Another greeting.")
    store.choose_swipe(chat.id, 0, 0)
    return store.chat(chat.id)


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


def _elements(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Every element of a page as a browser's parser sees it, with its attributes."""
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser.found


def _assert_clean(text: str) -> None:
    assert "sk-abcdef" not in text
    assert "api_key" not in text
    assert str(Path.home()) + "/" not in text
    assert "CHARACTERLAB_LINCOLN_CORPUS" not in text and "papers-and-writings" not in text


def test_a_shared_chat_is_an_escaped_self_contained_page_without_secrets(client: TestClient, app: FastAPI) -> None:
    chat = _hostile_chat(the_lab(app).store)
    shared = client.post(f"/share/chat/{chat.id}", headers=csrf(client))
    assert shared.status_code == 200, shared.text
    links = shared.json()
    assert links == {"id": links["id"], "page": f"/s/{links['id']}", "json": f"/s/{links['id']}.json"}

    response = client.get(links["page"])
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == SHARED_PAGE_POLICY
    html = response.text
    elements = _elements(html)
    tags = {tag for tag, _ in elements}
    assert "script" not in tags and "img" not in tags and "a" not in tags and "link" not in tags
    for tag, attributes in elements:
        for name, value in attributes:
            assert not name.startswith("on"), (tag, name)
            assert "javascript:" not in (value or ""), (tag, name)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "[x](javascript:alert(1))" in html and "![x](javascript:alert(1))" in html
    assert "[redacted key]" in html and "~/notes" in html
    assert "characterlab/tiny-lincoln" in html
    assert "Abraham Lincoln" in html and "shared from characterlab" in html
    assert "temperature" in html and "0.7" in html
    # Self-contained: nothing is fetched from anywhere.
    assert "http://" not in html and "https://" not in html
    _assert_clean(html)

    download = client.get(links["json"])
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/json")
    assert download.headers["content-disposition"] == f'attachment; filename="characterlab-{links["id"]}.json"'
    _assert_clean(download.text)
    document = json.loads(download.text)
    assert document["schema"] == "characterlab/transcript@1"
    assert document["model"] == "characterlab/tiny-lincoln"
    assert document["settings"] == {"temperature": 0.7, "user_name": "Sam"}
    assert set(document["character"]) == {"name", "summary", "voice", "greeting"}
    assert document["character"]["greeting"].startswith("Good day to you, Sam.")
    messages = document["messages"]
    assert len(messages) == 2 + 2 * len(HOSTILE)
    assert messages[0] == {
        "speaker": "Abraham Lincoln",
        "role": "assistant",
        "content": "Good day to you, Sam.",
        "swipes": 2,
    }
    assert [m["content"] for m in messages[1 : 2 * len(HOSTILE) : 2]] == HOSTILE
    assert messages[-1]["content"] == "my key is [redacted key] and my files are in ~/notes"


def test_steering_settings_are_shared_only_when_the_chat_steers() -> None:
    from characterlab.web._transcript_page import _shared_settings

    plain = {"temperature": 0.7, "steering_file": "", "steering_alpha": 4.0, "steering_positions": "all"}
    assert _shared_settings(plain) == {"temperature": 0.7}
    steered = {**plain, "steering_file": "curious"}
    assert _shared_settings(steered) == steered


def test_a_shared_dialogue_shows_its_opener_and_who_spoke_on_which_model(client: TestClient, app: FastAPI) -> None:
    store = the_lab(app).store
    settings = {
        "participants": [
            {"name": "Ada", "model": f"characterlab/{Path.home()}/models/tiny", "character_id": None},
            {"name": "Bo", "model": "characterlab/default", "character_id": None},
        ],
        "opener": "<b>Shall we talk about the sea?</b>",
        "max_turns": 2,
    }
    dialogue = store.create_chat(model="characterlab/default", kind="dialogue", title="Ada and Bo", settings=settings)
    store.add_message(dialogue.id, "assistant", "The sea is wide.", speaker="Ada")
    links = client.post(f"/share/chat/{dialogue.id}", headers=csrf(client)).json()
    document = json.loads(client.get(links["json"]).text)
    assert document["opener"] == "<b>Shall we talk about the sea?</b>"
    assert document["participants"] == [
        {"name": "Ada", "model": "characterlab/tiny"},
        {"name": "Bo", "model": "characterlab/default"},
    ]
    html = client.get(links["page"]).text
    assert "Opening message" in html and "&lt;b&gt;Shall we talk about the sea?&lt;/b&gt;" in html
    assert "Ada · characterlab/tiny" in html and "Bo · characterlab/default" in html and str(Path.home()) not in html


def test_the_gallery_lists_shared_pages_and_unknown_ones_are_not_found(client: TestClient, app: FastAPI) -> None:
    assert "Nothing shared yet" in client.get("/shared").text
    chat = _hostile_chat(the_lab(app).store)
    links = client.post(f"/share/chat/{chat.id}", headers=csrf(client)).json()
    gallery = client.get("/shared")
    assert gallery.status_code == 200
    assert f'href="/s/{links["id"]}"' in gallery.text and f'href="/s/{links["id"]}.json"' in gallery.text
    assert "Abraham Lincoln" in gallery.text
    assert client.get("/s/unknown").status_code == 404
    assert client.get("/s/unknown.json").status_code == 404
    assert client.get("/s/..%2F..%2Fetc%2Fpasswd").status_code == 404
    assert client.post("/share/chat/unknown", headers=csrf(client)).status_code == 404


def test_sharing_needs_the_csrf_token(client: TestClient, app: FastAPI) -> None:
    chat = _hostile_chat(the_lab(app).store)
    assert client.post(f"/share/chat/{chat.id}").status_code == 403
    assert client.post(f"/share/chat/{chat.id}", headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert client.post(f"/share/compare/{chat.id}").status_code == 403
    assert the_lab(app).store.shared() == []


def test_a_side_by_side_group_is_shared_as_columns(client: TestClient, app: FastAPI) -> None:
    store = the_lab(app).store
    first = _hostile_chat(store, group_id="group-1", model="characterlab/./models/first")
    second = store.create_chat(model="openai/gpt-4o-mini", title="the bare model", group_id="group-1")
    store.add_message(second.id, "user", "Hello from the second column", speaker="User")
    links = client.post("/share/compare/group-1", headers=csrf(client)).json()
    html = client.get(links["page"]).text
    assert html.count('class="card column"') == 2
    assert html.index("characterlab/first") < html.index("openai/gpt-4o-mini")
    assert "Hello from the second column" in html and "&lt;script&gt;" in html
    _assert_clean(html)
    document = client.get(links["json"]).json()
    assert document["kind"] == "chat"
    assert [column["model"] for column in document["columns"]] == ["characterlab/first", "openai/gpt-4o-mini"]
    assert len(document["columns"][0]["messages"]) == len(first.messages)
    assert client.post("/share/compare/no-such-group", headers=csrf(client)).status_code == 404


@pytest.mark.parametrize(
    ("model", "shown"),
    [
        ("characterlab//home/alice/models/x", "characterlab/x"),
        ("characterlab/./x", "characterlab/x"),
        ("characterlab/../models/x/", "characterlab/x"),
        ("characterlab/~/models/x", "characterlab/x"),
        ("characterlab/C:\\Users\\alice\\x", "characterlab/x"),
        ("/home/alice/models/x", "x"),
        ("characterlab/default", "characterlab/default"),
        ("openai/gpt-4o-mini", "openai/gpt-4o-mini"),
        ("hf/meta-llama/Llama-3.2-1B-Instruct", "hf/meta-llama/Llama-3.2-1B-Instruct"),
    ],
)
def test_a_local_model_folder_is_named_by_its_last_part(model: str, shown: str) -> None:
    assert public_model_name(model) == shown


@pytest.mark.parametrize(
    "key",
    [
        KEY,
        "sk-ant-api03-abcdefghijklmnopqrstuv",
        "AIzaSyA1234567890abcdefghijklmnopqrstu",
        "hf_abcdefghijklmnopqrstuvwxyz",
    ],
)
def test_keys_are_scrubbed_from_any_text(key: str) -> None:
    assert scrub_text(f"use {key}, please") == "use [redacted key], please"


def test_a_document_built_elsewhere_is_escaped_and_scrubbed_when_rendered(tmp_path: Path) -> None:
    character = parse_character("schema: characterlab/character@1\nname: <b>Bo</b>\ngreeting: Hi {{user}}\n")
    store = Store(f"sqlite:///{tmp_path / 'lab.db'}")
    chat = store.create_chat(model="openai/gpt-4o", settings={"seed": 3, "frame": "chat", "secret": "x"})
    store.add_message(chat.id, "system", "</style><script>alert(1)</script>")
    document = transcript_document(store.chat(chat.id), character)
    assert document["title"] == "<b>Bo</b>" and document["settings"] == {"seed": 3, "frame": "chat"}
    assert document["character"]["greeting"] == "Hi User"
    document["messages"].append({"speaker": "x", "role": "user", "content": f"late {KEY}", "swipes": 1})
    html = render_transcript_page(document)
    assert "<b>Bo</b>" not in html and "&lt;b&gt;Bo&lt;/b&gt;" in html
    assert "<script>" not in html and "&lt;/style&gt;" in html
    assert "script" not in {tag for tag, _ in _elements(html)}
    assert "sk-abcdef" not in html and "secret" not in html
    store.close()
