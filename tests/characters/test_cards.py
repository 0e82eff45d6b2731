"""Character cards: V1/V2/V3 JSON, PNG and CHARX in; V2, V3 and PNG out; lossless both ways; only CardError."""

from __future__ import annotations

import base64
import io
import json
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from characterlab.characters import (
    Character,
    card_from_json,
    card_png_bytes,
    card_to_v2,
    card_to_v3,
    load_character,
    parse_card,
    read_card,
    write_card,
)
from characterlab.errors import CardError
from tests.conftest import FIXTURES, bundled_character_paths
from tests.strategies import characters, v2_cards, v3_cards

SIGNATURE = b"\x89PNG\r\n\x1a\n"

# --- building cards and containers by hand, independently of the code under test -----------------------------


def v2_card(**data: Any) -> dict[str, Any]:
    """A spec-conforming V2 card; ``data`` overrides or adds fields."""
    fields: dict[str, Any] = {
        "name": "Ada",
        "description": "{{char}} is a mathematician.",
        "personality": "curious",
        "scenario": "{{user}} visits {{char}}.",
        "first_mes": "Hello, {{user}}.",
        "mes_example": "<START>\n{{user}}: Hi\n{{char}}: Hello.",
        "creator_notes": "Notes for humans.",
        "system_prompt": "",
        "post_history_instructions": "",
        "alternate_greetings": ["Good day."],
        "tags": ["maths"],
        "creator": "someone",
        "character_version": "1.0",
        "extensions": {"depth_prompt": {"depth": 4, "prompt": "x"}},
    }
    return {"spec": "chara_card_v2", "spec_version": "2.0", "data": fields | data}


def v3_card(**data: Any) -> dict[str, Any]:
    """A spec-conforming V3 card; ``data`` overrides or adds fields."""
    card = v2_card(**{"group_only_greetings": [], "nickname": "Countess", **data})
    return {**card, "spec": "chara_card_v3", "spec_version": "3.0"}


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def text_chunk(keyword: str, text: str) -> bytes:
    return chunk(b"tEXt", keyword.encode("latin-1") + b"\0" + text.encode("latin-1"))


def b64(card: object) -> str:
    return base64.b64encode(json.dumps(card).encode("utf-8")).decode("ascii")


def tiny_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (2, 3), (10, 200, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def png_with(*extra_chunks: bytes, base: bytes | None = None) -> bytes:
    """A PNG with the given chunks inserted before IEND."""
    png = base if base is not None else tiny_png()
    iend = png.rindex(b"IEND") - 4
    return png[:iend] + b"".join(extra_chunks) + png[iend:]


def png_chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    chunks, offset = [], 8
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        chunks.append((png[offset + 4 : offset + 8], png[offset + 8 : offset + 8 + length]))
        offset += 12 + length
    return chunks


def charx(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def card_error(data: bytes, source: str = "ada.card") -> str:
    with pytest.raises(CardError) as caught:
        parse_card(data, source=source)
    message = str(caught.value)
    assert source in message
    return message


@pytest.fixture(scope="module")
def portrait(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small PNG portrait; hypothesis tests use it to stay clear of drawing a placeholder each time."""
    path = tmp_path_factory.mktemp("portrait") / "portrait.png"
    path.write_bytes(tiny_png())
    return path


# --- JSON: V1, V2, V3 ------------------------------------------------------------------------------------------


def test_v2_fields_map_onto_the_character() -> None:
    book = {"extensions": {}, "entries": [{"keys": ["a"], "content": "A.", "extensions": {}, "enabled": True}]}
    character = card_from_json(v2_card(character_book=book, system_prompt="Be {{char}}."), source="ada.json")
    assert character.name == "Ada"
    assert character.summary == "{{char}} is a mathematician."  # macros stay until rendering
    assert character.personality == "curious"
    assert character.scenario == "{{user}} visits {{char}}."
    assert character.greeting == "Hello, {{user}}."
    assert character.alternate_greetings == ["Good day."]
    assert character.example_dialogue.startswith("<START>")
    assert character.system_prompt == "Be {{char}}."
    assert character.extensions == {"depth_prompt": {"depth": 4, "prompt": "x"}}
    assert character.card is not None
    assert character.card.spec == "chara_card_v2"
    assert (character.card.creator, character.card.creator_notes, character.card.tags) == (
        "someone",
        "Notes for humans.",
        ["maths"],
    )
    assert character.card.character_book == book


def test_v2_card_round_trips_exactly_with_unknown_keys() -> None:
    card = v2_card(x_rating="safe", character_book={"entries": [], "extensions": {"k": [1, {"n": None}]}})
    card["name"] = "Ada"  # writers copy V1 fields to the top level
    card["create_date"] = "2024-1-1"
    character = card_from_json(card)
    assert character.card is not None
    assert character.card.unknown_data == {"x_rating": "safe"}
    assert character.card.top_level == {"name": "Ada", "create_date": "2024-1-1"}
    assert card_to_v2(character) == card


def test_v3_card_round_trips_exactly_and_keeps_v3_fields() -> None:
    card = v3_card(
        assets=[{"type": "icon", "uri": "ccdefault:", "name": "main", "ext": "png"}],
        source=["https://example.org/ada"],
        creation_date=1700000000,
        creator_notes_multilingual={"fr": "Notes."},
    )
    character = card_from_json(card)
    assert character.nickname == "Countess"
    assert character.display_name == "Countess"
    assert character.card is not None
    assert set(character.card.v3) == {
        "assets",
        "source",
        "creation_date",
        "creator_notes_multilingual",
        "group_only_greetings",
    }
    assert card_to_v3(character) == card


def test_v1_card_imports_and_exports_as_v2_with_the_same_values() -> None:
    v1 = {
        "name": "Ada",
        "description": "A mathematician.",
        "personality": "curious",
        "scenario": "A study.",
        "first_mes": "Hello.",
        "mes_example": "<START>",
        "avatar": "none",
    }
    character = card_from_json(v1)
    assert character.card is not None
    assert character.card.spec == "chara_card_v1"
    v2 = card_to_v2(character)
    assert v2["spec"] == "chara_card_v2"
    assert v2["spec_version"] == "2.0"
    assert v2["avatar"] == "none"
    data = v2["data"]
    assert isinstance(data, dict)
    assert {key: data[key] for key in v1 if key != "avatar"} == {key: v1[key] for key in v1 if key != "avatar"}


def test_v2_card_exports_as_v3_with_the_required_v3_fields() -> None:
    v3 = card_to_v3(card_from_json(v2_card()))
    assert (v3["spec"], v3["spec_version"]) == ("chara_card_v3", "3.0")
    assert isinstance(v3["data"], dict)
    assert v3["data"]["group_only_greetings"] == []


def test_v3_card_exported_as_v2_leaves_out_v3_fields() -> None:
    v2 = card_to_v2(card_from_json(v3_card(source=["x"])))
    assert isinstance(v2["data"], dict)
    assert (v2["spec"], v2["spec_version"]) == ("chara_card_v2", "2.0")
    assert not {"nickname", "source", "group_only_greetings"} & set(v2["data"])
    assert v2["data"]["extensions"]["characterlab"]["nickname"] == "Countess"  # type: ignore[call-overload,index]
    assert card_from_json(v2).nickname == "Countess"  # V2 has no field for it; the extension keeps it


def test_exported_card_is_a_fresh_copy() -> None:
    character = card_from_json(v2_card(character_book={"entries": []}))
    card = card_to_v2(character)
    assert isinstance(card["data"], dict)
    card["data"]["character_book"] = {"entries": ["changed"]}
    assert card_to_v2(character)["data"] == v2_card(character_book={"entries": []})["data"]


# --- PNG -------------------------------------------------------------------------------------------------------


def test_png_prefers_ccv3_and_compares_keywords_case_insensitively() -> None:
    png = png_with(text_chunk("Chara", b64(v2_card(name="Old"))), text_chunk("CCV3", b64(v3_card(name="New"))))
    assert parse_card(png).name == "New"
    assert parse_card(png_with(text_chunk("CHARA", b64(v2_card(name="Old"))))).name == "Old"


def test_png_export_writes_chara_then_ccv3_before_iend_and_keeps_the_image(portrait: Path) -> None:
    base = png_with(text_chunk("chara", b64(v2_card(name="Stale"))), text_chunk("Comment", "kept"))
    portrait_with_card = portrait.with_name("old-card.png")
    portrait_with_card.write_bytes(base)
    character = card_from_json(v3_card())
    png = card_png_bytes(character, portrait_with_card)
    kinds = [(kind, data.partition(b"\0")[0]) for kind, data in png_chunks(png)]
    assert kinds[-3:] == [(b"tEXt", b"chara"), (b"tEXt", b"ccv3"), (b"IEND", b"")]
    assert [k for k in kinds if k[1].lower() in (b"chara", b"ccv3")] == kinds[-3:-1]
    # Byte for byte, except for the card chunks.
    stale = text_chunk("chara", b64(v2_card(name="Stale")))
    new_chunks = png[png.index(b"chara") - 8 : png.rindex(b"IEND") - 4]
    assert png.replace(new_chunks, b"") == base.replace(stale, b"")
    texts = {data.partition(b"\0")[0]: data.partition(b"\0")[2] for kind, data in png_chunks(png) if kind == b"tEXt"}
    assert json.loads(base64.b64decode(texts[b"chara"]))["spec"] == "chara_card_v2"
    assert json.loads(base64.b64decode(texts[b"ccv3"])) == card_to_v3(character)
    assert parse_card(png) == character


def test_png_export_converts_a_jpeg_portrait(tmp_path: Path) -> None:
    jpeg = tmp_path / "portrait.jpg"
    Image.new("RGB", (30, 40), (200, 100, 50)).save(jpeg, format="JPEG")
    png = card_png_bytes(card_from_json(v2_card()), jpeg)
    assert png.startswith(SIGNATURE)
    assert Image.open(io.BytesIO(png)).size == (30, 40)


def test_png_export_refuses_an_image_that_is_not_one(tmp_path: Path) -> None:
    fake = tmp_path / "portrait.webp"
    fake.write_bytes(b"not an image")
    with pytest.raises(CardError, match=r"portrait\.webp.*expected a PNG, JPEG or WebP image"):
        card_png_bytes(card_from_json(v2_card()), fake)


def test_placeholder_portrait_is_deterministic_and_portrait_shaped() -> None:
    character = card_from_json(v2_card())
    first = card_png_bytes(character)
    assert first == card_png_bytes(character)
    assert Image.open(io.BytesIO(first)).size == (400, 600)
    assert first != card_png_bytes(card_from_json(v2_card(name="Grace")))


# --- CHARX -----------------------------------------------------------------------------------------------------


def test_charx_reads_card_json_at_the_root() -> None:
    card = v3_card(
        assets=[{"type": "icon", "uri": "embeded://assets/icon/images/main.png", "name": "main", "ext": "png"}]
    )
    archive = charx({"card.json": json.dumps(card).encode(), "assets/icon/images/main.png": tiny_png()})
    assert card_to_v3(parse_card(archive)) == card


def test_charx_without_card_json_is_refused() -> None:
    message = card_error(charx({"cards/card.json": b"{}"}), "ada.charx")
    assert "card.json" in message


def test_charx_that_is_not_a_zip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ada.charx"
    path.write_text(json.dumps(v3_card()))
    with pytest.raises(CardError, match=r"ada\.charx: expected a CHARX file \(a zip archive\)"):
        read_card(path)
    assert "zip archive" in card_error(b"PK\x03\x04 broken", "ada.charx")


# --- errors ----------------------------------------------------------------------------------------------------


def test_png_without_a_card_chunk() -> None:
    assert "`chara` or `ccv3`" in card_error(png_with(text_chunk("Comment", "hi")), "ada.png")


def test_png_with_a_truncated_chunk() -> None:
    png = png_with(text_chunk("chara", b64(v2_card())))
    message = card_error(png[: png.index(b"chara") + 20], "ada.png")
    assert "truncated" in message


def test_png_ending_without_iend() -> None:
    png = png_with(text_chunk("chara", b64(v2_card())))
    assert "without IEND" in card_error(png[: png.rindex(b"IEND") - 4], "ada.png")


def test_png_with_a_bad_crc() -> None:
    good = text_chunk("chara", b64(v2_card()))
    bad = good[:-1] + bytes([good[-1] ^ 1])
    message = card_error(png_with(bad), "ada.png")
    assert "(tEXt): bad CRC" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("not base64!", "ada.png (chara chunk): expected base64 text"),
        ("café", "ada.png (chara chunk): expected base64 text"),
        (base64.b64encode(b'{"name": "\xff"}').decode(), "ada.png (chara chunk): expected UTF-8 text"),
        (base64.b64encode(b'{"name": ').decode(), "ada.png (chara chunk):1: not valid JSON"),
        (base64.b64encode(b"[1, 2]").decode(), "expected a JSON object (a character card), got a list"),
    ],
)
def test_png_with_a_bad_payload(text: str, expected: str) -> None:
    assert expected in card_error(png_with(text_chunk("chara", text)), "ada.png")


def test_wrapped_unpadded_base64_is_read() -> None:
    encoded = b64(v2_card()).rstrip("=")
    wrapped = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    assert parse_card(png_with(text_chunk("chara", wrapped))).name == "Ada"


@pytest.mark.parametrize(
    ("card", "expected"),
    [
        (v2_card(name=5), "data.name: expected text, got 5"),
        (v2_card(name=""), "data.name: expected text, got an empty value"),
        (v2_card(tags="maths"), 'data.tags: expected a list, got "maths"'),
        (v2_card(alternate_greetings=[1]), "data.alternate_greetings[0]: expected text, got 1"),
        (v2_card(extensions=[]), "data.extensions: expected an object"),
        (v2_card(character_book="none"), "data.character_book"),
        ({"spec": "chara_card_v2", "spec_version": "2.0"}, "data: missing"),
        ({"spec": "chara_card_v4", "data": {}}, "spec: expected 'chara_card_v2' or 'chara_card_v3'"),
        ({"description": "no name"}, "expected a character card"),
        ({"name": ["Ada"]}, "name: expected text"),
        (v3_card(nickname=3), "data.nickname: expected text"),
    ],
)
def test_card_with_wrong_field_types(card: dict[str, Any], expected: str) -> None:
    assert expected in card_error(json.dumps(card).encode(), "ada.json")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"\xff\xfe{}", "expected UTF-8 text"),
        (b'{"name": "Ada",\n "description": }', "ada.json:2: not valid JSON"),
        (b'{"name": "Ada", "x": NaN}', "NaN is not a JSON number"),
        (b'{"name": "Ada", "x": 1e999}', "too large"),
        (b'{"name": "\\ud800"}', "unpaired surrogate \\ud800"),
        (b'{"name": "Ada", "x": ' + b"[" * 200 + b"]" * 200 + b"}", "nested at most"),
        (b'{"name": "Ada", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested at most"),
        (b"\xff\xd8\xff\xe0 jpeg", "got a JPEG image"),
        (b"RIFF\0\0\0\0WEBPVP8 ", "got a WebP image"),
    ],
)
def test_json_that_is_not_a_card(raw: bytes, expected: str) -> None:
    assert expected in card_error(raw, "ada.json")


@pytest.mark.parametrize(
    ("card", "expected"),
    [
        (v2_card(extensions={"t": (1, 2)}), "data.extensions.t: expected JSON data"),
        (v2_card(x_rating=float("nan")), "data.x_rating: expected a finite number, got nan"),
        (dict[Any, Any](v2_card()) | {3: "x"}, "expected text keys, got 3"),
    ],
)
def test_card_from_json_refuses_what_json_cannot_hold(card: dict[Any, Any], expected: str) -> None:
    with pytest.raises(CardError) as caught:
        card_from_json(card, source="built.json")
    assert expected in str(caught.value)


def test_a_null_lorebook_counts_as_none() -> None:
    character = card_from_json(v2_card(character_book=None))
    assert character.card is not None
    assert character.card.character_book is None
    data = card_to_v2(character)["data"]
    assert isinstance(data, dict)
    assert "character_book" not in data


def test_read_card_names_a_missing_file_and_a_png_that_is_not_one(tmp_path: Path) -> None:
    with pytest.raises(CardError, match=r"missing\.png: no such file"):
        read_card(tmp_path / "missing.png")
    fake = tmp_path / "ada.png"
    fake.write_text(json.dumps(v2_card()))
    with pytest.raises(CardError, match=r"ada\.png: expected a PNG file"):
        read_card(fake)


def test_read_card_goes_by_content_not_name(tmp_path: Path) -> None:
    path = tmp_path / "ada.json"
    path.write_bytes(png_with(text_chunk("chara", b64(v2_card()))))
    assert read_card(path).name == "Ada"


# --- characters written in characterlab ------------------------------------------------------------------------


def test_character_exports_its_extra_fields_as_text_and_extension(ada: Character) -> None:
    card = card_to_v3(ada)
    data = card["data"]
    assert isinstance(data, dict)
    description = data["description"]
    assert isinstance(description, str)
    assert description.startswith(ada.summary.strip() + "\n\n")
    assert "{{char}}'s nature:\n" + ada.self_knowledge.strip() in description
    assert "- curiosity (0.8): Asks a follow-up question" in description
    assert "What {{char}} will not do:\n- Never pretends a false proof is true." in description
    extensions = data["extensions"]
    assert isinstance(extensions, dict)
    lab = extensions["characterlab"]
    assert isinstance(lab, dict)
    assert lab["schema"] == "characterlab/card-extension@1"
    assert lab["written_here"] is True
    assert card_from_json(card) == ada
    assert "characterlab" not in card_from_json(card).extensions


def test_a_description_edited_elsewhere_wins(ada: Character) -> None:
    card = card_to_v3(ada)
    data = card["data"]
    assert isinstance(data, dict) and isinstance(data["description"], str)
    sections = data["description"].removeprefix(ada.summary.strip() + "\n\n")
    data["description"] = "Rewritten in SillyTavern."
    edited = card_from_json(card)
    assert edited.summary == "Rewritten in SillyTavern."
    assert edited.traits == ada.traits  # the extra fields still come back
    data["description"] = "A new summary.\n\n" + sections
    assert card_from_json(card).summary == "A new summary."


def test_card_round_trip_adds_no_extension() -> None:
    card = v2_card()
    character = card_from_json(card)
    data = card_to_v2(character)["data"]
    assert isinstance(data, dict)
    assert data["extensions"] == card["data"]["extensions"]
    assert data["description"] == character.summary


def test_character_written_here_keeps_card_fields_edited_elsewhere(ada: Character) -> None:
    card = card_to_v3(ada)
    assert isinstance(card["data"], dict)
    card["data"]["creator"] = "Sam"
    imported = card_from_json(card)
    assert imported.card is not None
    assert imported.card.creator == "Sam"
    assert imported.model_copy(update={"card": None}) == ada


@pytest.mark.parametrize(
    ("extension", "expected"),
    [
        ([], "data.extensions.characterlab: expected an object"),
        ({"schema": "characterlab/card-extension@9"}, "data.extensions.characterlab.schema: expected"),
        (
            {"schema": "characterlab/card-extension@1", "character": {"traits": [{"id": "x", "description": "d"}]}},
            "data.extensions.characterlab.character.traits[0].strength: missing",
        ),
        (
            {"schema": "characterlab/card-extension@1", "character": {"greeting": "hi"}},
            "data.extensions.characterlab.character.greeting: unknown field",
        ),
    ],
)
def test_a_malformed_characterlab_extension_is_refused(extension: object, expected: str) -> None:
    card = v2_card(extensions={"characterlab": extension})
    assert expected in card_error(json.dumps(card).encode(), "ada.json")


@pytest.mark.parametrize("fmt", ["png", "v3", "v2"])
def test_write_card_and_read_it_back(ada: Character, tmp_path: Path, fmt: str) -> None:
    path = write_card(ada, tmp_path / f"ada.{fmt}", format=fmt)  # type: ignore[arg-type]
    back = read_card(path)
    assert back == ada


def test_write_card_refuses_an_image_for_json(ada: Character, tmp_path: Path, portrait: Path) -> None:
    with pytest.raises(ValueError, match="no image"):
        write_card(ada, tmp_path / "ada.json", format="v3", image=portrait)


@pytest.mark.parametrize(
    "path", [*bundled_character_paths(), *sorted(FIXTURES.glob("*.character.yaml"))], ids=lambda p: p.name
)
@pytest.mark.parametrize("fmt", ["png", "v3", "v2"])
def test_bundled_characters_round_trip(path: Path, fmt: str, tmp_path: Path, portrait: Path) -> None:
    character = load_character(path)
    image = portrait if fmt == "png" else None
    assert read_card(write_card(character, tmp_path / f"card.{fmt}", format=fmt, image=image)) == character  # type: ignore[arg-type]


# --- properties ------------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(card=v2_cards())
def test_v2_cards_round_trip_through_json_and_png(card: dict[str, Any]) -> None:
    assert card_to_v2(parse_card(json.dumps(card, ensure_ascii=False).encode())) == card
    assert card_to_v2(parse_card(png_with(text_chunk("chara", b64(card))))) == card


@settings(max_examples=60, deadline=None)
@given(card=v3_cards())
def test_v3_cards_round_trip_through_json_png_and_charx(card: dict[str, Any]) -> None:
    character = parse_card(json.dumps(card).encode())
    assert card_to_v3(character) == card
    assert card_to_v3(parse_card(charx({"card.json": json.dumps(card).encode()}))) == card
    png = png_with(text_chunk("chara", b64(card_to_v2(character))), text_chunk("ccv3", b64(card)))
    assert parse_card(png) == character


@settings(max_examples=60, deadline=None)
@given(character=characters)
def test_characters_round_trip_through_v3_and_png(character: Character, portrait: Path) -> None:
    assert card_from_json(card_to_v3(character)) == character
    assert parse_card(card_png_bytes(character, portrait)) == character


def flip(data: bytes, index: int, mask: int) -> bytes:
    index %= max(len(data), 1)
    return data[:index] + bytes([data[index] ^ mask]) + data[index + 1 :] if data else data


mutations = st.lists(
    st.one_of(
        st.tuples(st.integers(0, 2**16), st.integers(1, 255)).map(lambda a: lambda d: flip(d, *a)),
        st.integers(0, 2**16).map(lambda n: lambda d: d[: n % (len(d) + 1)]),
        st.tuples(st.integers(0, 2**16), st.binary(min_size=1, max_size=8)).map(
            lambda a: lambda d: d[: a[0] % (len(d) + 1)] + a[1] + d[a[0] % (len(d) + 1) :]
        ),
        st.tuples(st.integers(0, 2**16), st.integers(1, 16)).map(
            lambda a: lambda d: d[: a[0] % (len(d) + 1)] + d[a[0] % (len(d) + 1) + a[1] :]
        ),
    ),
    min_size=1,
    max_size=3,
)


def mutate(data: bytes, changes: list[Callable[[bytes], bytes]]) -> bytes:
    for change in changes:
        data = change(data)
    return data


def imports_or_refuses(data: bytes) -> None:
    try:
        parse_card(data, source="fuzzed")
    except CardError as error:
        assert "fuzzed" in str(error)


SAMPLE = v3_card(character_book={"entries": [{"keys": ["k"], "content": "c", "extensions": {}, "enabled": True}]})
SAMPLE_JSON = json.dumps(SAMPLE).encode()


@settings(max_examples=150, deadline=None)
@given(
    container=st.sampled_from(["json", "png", "png-payload", "charx", "charx-payload"]),
    changes=mutations,
)
def test_corrupted_cards_import_or_raise_card_error(container: str, changes: list[Callable[[bytes], bytes]]) -> None:
    if container == "json":
        imports_or_refuses(mutate(SAMPLE_JSON, changes))
    elif container == "png":
        imports_or_refuses(mutate(png_with(text_chunk("ccv3", b64(SAMPLE))), changes))
    elif container == "png-payload":  # damage inside a chunk whose CRC still holds
        payload = mutate(b64(SAMPLE).encode(), changes)
        imports_or_refuses(png_with(chunk(b"tEXt", b"ccv3\0" + payload)))
    elif container == "charx":
        imports_or_refuses(mutate(charx({"card.json": SAMPLE_JSON}), changes))
    else:
        imports_or_refuses(charx({"card.json": mutate(SAMPLE_JSON, changes)}))


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=64), prefix=st.sampled_from([b"", SIGNATURE, b"PK\x03\x04", b"PK\x05\x06", b"{"]))
def test_arbitrary_bytes_import_or_raise_card_error(data: bytes, prefix: bytes) -> None:
    imports_or_refuses(prefix + data)
