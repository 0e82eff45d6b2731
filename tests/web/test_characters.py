"""The characters pages over HTTP: list, write, edit with located problems, import cards, export, security."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from characterlab.characters import (
    card_png_bytes,
    character_template,
    load_character,
    parse_card,
    parse_character,
    write_card,
)
from characterlab.store import Store
from characterlab.web import LabSettings, create_app
from characterlab.web._characters import router as characters_router
from characterlab.web._characters import safe_file_name
from tests.web.conftest import the_lab

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "characters"
HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def _app(tmp_path: Path, **settings: Any) -> FastAPI:
    app = create_app(LabSettings(store=Store(f"sqlite:///{tmp_path / 'lab.db'}"), **settings))
    # Until the lead registers the router in create_app, the tests add it themselves.
    if not any(isinstance(route, APIRoute) and route.path == "/characters/{character_id}" for route in app.routes):
        app.include_router(characters_router)
    return app


def _client(app: FastAPI) -> TestClient:
    client = TestClient(app, base_url="http://127.0.0.1:8765")
    assert client.get("/characters").status_code == 200
    return client


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    """The lab, with the characters pages, on a database of its own."""
    return _app(tmp_path)


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    """A browser that has visited the characters page (so it holds the CSRF cookie)."""
    return _client(app)


def _token(client: TestClient) -> str:
    return client.cookies["characterlab_csrf"]


def _form(client: TestClient, url: str, **fields: str) -> Any:
    """Post a form as the page's own form does, with the hidden csrf_token field."""
    return client.post(url, data={"csrf_token": _token(client), **fields}, follow_redirects=False)


def _upload(client: TestClient, filename: str, data: bytes) -> Any:
    return client.post(
        "/characters/import",
        data={"csrf_token": _token(client)},
        files={"file": (filename, data, "application/octet-stream")},
        follow_redirects=False,
    )


def _id_from(response: Any) -> str:
    assert response.status_code == 303, response.text
    location = str(response.headers["location"])
    assert location.startswith("/characters/")
    return location.rsplit("/", 1)[1]


def _create(client: TestClient, yaml: str) -> str:
    return _id_from(_form(client, "/characters/new", yaml=yaml))


def test_the_list_starts_empty_and_offers_writing_importing_and_the_examples(client: TestClient, app: FastAPI) -> None:
    html = client.get("/characters").text
    assert 'id="no-characters"' in html
    assert 'href="/characters/new"' in html
    assert 'id="import"' in html and 'action="/characters/import"' in html and 'name="file"' in html
    assert 'accept=".png,.json,.charx,.yaml,.yml"' in html
    assert f'name="csrf_token" value="{_token(client)}"' in html
    assert 'action="/characters/examples"' in html
    assert the_lab(app).store.characters() == []


def test_the_bundled_examples_are_added_once(client: TestClient, app: FastAPI) -> None:
    bundled = sorted(load_character(path).name for path in EXAMPLES.glob("*.character.yaml"))
    assert bundled
    response = _form(client, "/characters/examples")
    assert response.status_code == 303 and response.headers["location"] == "/characters"
    assert _form(client, "/characters/examples").status_code == 303
    stored = the_lab(app).store.characters()
    assert sorted(record.name for record in stored) == bundled
    html = client.get("/characters").text
    for record in stored:
        assert f'href="/characters/{record.id}"' in html
        assert record.origin.startswith("file: ") and record.origin.endswith(".character.yaml")


def test_a_character_written_from_the_template_is_saved_and_shown(client: TestClient, app: FastAPI) -> None:
    editor = client.get("/characters/new", params={"name": "Wren"})
    assert editor.status_code == 200
    assert 'action="/characters/new"' in editor.text
    template = character_template("Wren")
    assert "curiosity" in template
    character_id = _create(client, template.replace("\n", "\r\n"))  # as a browser sends a textarea
    record = the_lab(app).store.character(character_id)
    assert (record.name, record.origin) == ("Wren", "created")
    assert record.yaml == template
    view = client.get(f"/characters/{character_id}").text
    assert "<h1>Wren" in view
    assert f'href="/chats?character={character_id}"' in view and "Chat with Wren" in view
    assert f'href="/characters/{character_id}/edit"' in view
    assert "<code>curiosity</code>" in view  # the trait's id, with its strength and probe count
    assert "<td>0.8</td><td>1</td>" in view
    assert "Saying what they believe is true." in view
    assert 'data-confirm="Delete Wren?' in view
    for export in ("card.png", "v3.json", "v2.json", "character.yaml"):
        assert f'href="/characters/{character_id}/export/{export}"' in view


def test_a_broken_edit_is_shown_with_its_line_and_field_and_stores_nothing(client: TestClient, app: FastAPI) -> None:
    character_id = _create(client, character_template("Wren"))
    before = the_lab(app).store.character(character_id)
    broken = before.yaml.replace("strength: 0.8", "strength: high")
    line = broken.split("\n").index("    strength: high") + 1
    with pytest.raises(Exception) as expected:
        parse_character(broken, source="check")
    assert f":{line}: traits[0].strength" in str(expected.value)

    response = _form(client, f"/characters/{character_id}/edit", yaml=broken)
    assert response.status_code == 422
    html = response.text
    assert f'<a href="#yaml-line-{line}">line {line}</a>, <code>traits[0].strength</code>' in html
    assert "expected a number in [0, 1], got &#34;high&#34;" in html
    # The user's text is kept in the editor, escaped.
    assert "strength: high" in html.split('name="yaml"', 1)[1]
    bad = re.search(rf'<li id="yaml-line-{line}" class="bad" title="([^"]*)">', html)
    assert bad is not None and "traits[0].strength" in bad.group(1)
    assert html.count('class="bad"') == 1
    after = the_lab(app).store.character(character_id)
    assert (after.yaml, after.updated_at) == (before.yaml, before.updated_at)


def test_a_valid_edit_replaces_the_yaml_and_the_listed_name(client: TestClient, app: FastAPI) -> None:
    character_id = _create(client, character_template("Wren"))
    text = character_template("Robin").replace("Hello, {{user}}.", "Morning, {{user}}.")
    assert _id_from(_form(client, f"/characters/{character_id}/edit", yaml=text)) == character_id
    record = the_lab(app).store.character(character_id)
    assert (record.name, record.yaml, record.origin) == ("Robin", text, "created")
    assert "Morning, {{user}}." in client.get(f"/characters/{character_id}").text


def test_a_new_character_with_problems_is_not_stored(client: TestClient, app: FastAPI) -> None:
    response = _form(client, "/characters/new", yaml="schema: characterlab/character@1\nsummary: nobody\n")
    assert response.status_code == 422
    assert "<code>name</code>" in response.text
    assert the_lab(app).store.characters() == []


def test_the_fields_form_changes_the_name_and_text(client: TestClient, app: FastAPI) -> None:
    character_id = _create(client, character_template("Wren"))
    edit = client.get(f"/characters/{character_id}/edit").text
    assert f'action="/characters/{character_id}/fields"' in edit and 'value="Wren"' in edit
    response = _form(
        client,
        f"/characters/{character_id}/fields",
        name="Robin",
        summary="A gardener.\r\nShe grows roses.",
        voice="Brief.",
        greeting="Hi.",
    )
    assert _id_from(response) == character_id
    record = the_lab(app).store.character(character_id)
    assert record.name == "Robin"
    character = parse_character(record.yaml)
    assert (character.name, character.summary, character.voice, character.greeting) == (
        "Robin",
        "A gardener.\nShe grows roses.",
        "Brief.",
        "Hi.",
    )
    assert [trait.id for trait in character.traits] == ["curiosity"]  # the rest is kept


def test_the_fields_form_refuses_an_empty_name(client: TestClient, app: FastAPI) -> None:
    character_id = _create(client, character_template("Wren"))
    response = _form(client, f"/characters/{character_id}/fields", name="   ", summary="", voice="", greeting="")
    assert response.status_code == 422
    assert "<code>name</code>" in response.text
    assert the_lab(app).store.character(character_id).name == "Wren"


def test_a_png_card_imports_and_its_v3_export_imports_as_the_same_character(
    client: TestClient, app: FastAPI, tmp_path: Path
) -> None:
    original = load_character(EXAMPLES / "marit.character.yaml")
    card = write_card(original, tmp_path / "marit.png", format="png")
    character_id = _id_from(_upload(client, "marit.png", card.read_bytes()))
    record = the_lab(app).store.character(character_id)
    assert (record.name, record.origin) == (original.name, "card: marit.png")
    imported = parse_character(record.yaml)
    assert imported == parse_card(card.read_bytes())

    export = client.get(f"/characters/{character_id}/export/v3.json")
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("application/json")
    disposition = export.headers["content-disposition"]
    match = re.fullmatch(r'attachment; filename="([A-Za-z0-9_-]+)\.v3\.json"', disposition)
    assert match is not None, disposition
    assert json.loads(export.content)["spec"] == "chara_card_v3"

    again = _id_from(_upload(client, "marit.v3.json", export.content))
    assert again != character_id
    assert parse_character(the_lab(app).store.character(again).yaml) == imported


def test_the_other_exports(client: TestClient) -> None:
    text = character_template("Dr. Who? / ../etc")
    character_id = _create(client, text)
    yaml = client.get(f"/characters/{character_id}/export/character.yaml")
    assert yaml.status_code == 200 and yaml.text == text
    assert yaml.headers["content-disposition"] == 'attachment; filename="Dr_Who_etc.character.yaml"'
    png = client.get(f"/characters/{character_id}/export/card.png")
    assert png.headers["content-type"] == "image/png"
    assert png.content == card_png_bytes(parse_character(text))
    assert parse_card(png.content).name == "Dr. Who? / ../etc"
    v2 = client.get(f"/characters/{character_id}/export/v2.json")
    assert json.loads(v2.content)["spec"] == "chara_card_v2"
    assert safe_file_name("../../") == "character"


def test_a_yaml_file_imports_with_its_file_origin(client: TestClient, app: FastAPI) -> None:
    path = EXAMPLES / "lincoln.character.yaml"
    character_id = _id_from(_upload(client, "C:\\Users\\me\\lincoln.character.yaml", path.read_bytes()))
    record = the_lab(app).store.character(character_id)
    assert record.origin == "file: lincoln.character.yaml"
    assert parse_character(record.yaml) == load_character(path)


def test_a_file_of_another_type_is_refused_naming_the_accepted_types(client: TestClient, app: FastAPI) -> None:
    response = _upload(client, "notes.txt", b"name: Wren")
    assert response.status_code == 400
    assert "notes.txt" in response.text
    for suffix in (".png", ".json", ".charx", ".yaml", ".yml"):
        assert suffix in response.text
    assert the_lab(app).store.characters() == []


def test_uploads_over_the_limit_are_refused_with_413(tmp_path: Path) -> None:
    app = _app(tmp_path, max_upload_bytes=1000)
    client = _client(app)
    # Counted while reading: the body is within the Content-Length allowance, the file is not.
    counted = _upload(client, "big.json", b"{" + b" " * 1500 + b"}")
    assert counted.status_code == 413
    assert "big.json" in counted.text and "1000 bytes" in counted.text
    # Refused on its Content-Length, before the form is read.
    declared = _upload(client, "huge.json", b" " * 200_000)
    assert declared.status_code == 413
    assert "the upload is" in declared.text and "1000 bytes" in declared.text
    assert the_lab(app).store.characters() == []


def test_a_malformed_card_is_refused_naming_the_file(client: TestClient, app: FastAPI) -> None:
    response = _upload(client, "broken.json", b'{"spec": "chara_card_v2", "data": ')
    assert response.status_code == 400
    assert "broken.json" in response.text and "not valid JSON" in response.text
    png = _upload(client, "fake.png", b"GIF89a not really")
    assert png.status_code == 400 and "fake.png" in png.text
    assert the_lab(app).store.characters() == []


def test_a_broken_yaml_file_is_refused_with_its_line(client: TestClient) -> None:
    broken = character_template("Wren").replace("strength: 0.8", "strength: high")
    response = _upload(client, "wren.yaml", broken.encode())
    assert response.status_code == 400
    assert "wren.yaml:" in response.text and "traits[0].strength" in response.text


def test_hostile_text_is_escaped_everywhere(client: TestClient) -> None:
    text = character_template(HOSTILE).replace(
        "summary: |\n  Who {{char}} is", f"summary: |\n  {HOSTILE} Who {{{{char}}}} is"
    )
    assert parse_character(text).summary.startswith(HOSTILE)
    character_id = _create(client, text)
    for url in (f"/characters/{character_id}", "/characters", f"/characters/{character_id}/edit"):
        html = client.get(url).text
        assert "<script>alert(1)" not in html and "<img src=x" not in html, url
        assert "&lt;script&gt;" in html, url
    broken = _form(client, f"/characters/{character_id}/edit", yaml=text.replace("strength: 0.8", "strength: x"))
    assert broken.status_code == 422
    assert "<script>alert(1)" not in broken.text and "&lt;script&gt;" in broken.text


@pytest.mark.parametrize(
    "url",
    [
        "/characters/..%2F..%2Fetc%2Fpasswd",
        "/characters/..%2F..%2Fetc%2Fpasswd/edit",
        "/characters/..%2F..%2Fetc%2Fpasswd/export/v3.json",
        "/characters/no-such-character",
        "/characters/%00/export/character.yaml",
    ],
)
def test_unknown_and_traversal_ids_are_not_found(client: TestClient, url: str) -> None:
    assert client.get(url).status_code == 404


def test_changes_without_the_csrf_token_are_refused(client: TestClient, app: FastAPI) -> None:
    character_id = _create(client, character_template("Wren"))
    refused = [
        client.post("/characters/new", data={"yaml": character_template("Eve")}),
        client.post(f"/characters/{character_id}/delete"),
        client.post(f"/characters/{character_id}/edit", data={"yaml": character_template("Eve")}),
        client.post("/characters/import", files={"file": ("a.yaml", character_template("Eve").encode())}),
        client.post("/characters/examples", data={"csrf_token": "wrong"}),
    ]
    assert [response.status_code for response in refused] == [403] * len(refused)
    assert [record.name for record in the_lab(app).store.characters()] == ["Wren"]


def test_delete_removes_the_character(client: TestClient, app: FastAPI) -> None:
    character_id = _create(client, character_template("Wren"))
    response = _form(client, f"/characters/{character_id}/delete")
    assert response.status_code == 303 and response.headers["location"] == "/characters"
    assert the_lab(app).store.characters() == []
    assert client.get(f"/characters/{character_id}").status_code == 404
