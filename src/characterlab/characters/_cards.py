"""Character cards (Tavern/SillyTavern V1, V2, V3) in and out: JSON files, PNG with ``chara``/``ccv3`` chunks, CHARX.

A card's fields map onto a character as follows; whatever else the card carries is kept in ``Character.card``
(:class:`CardFields`) so that exporting gives the card back unchanged:

- ``name``, ``personality``, ``scenario``, ``alternate_greetings``, ``system_prompt``,
  ``post_history_instructions`` → the character's fields of the same names;
- ``description`` → ``summary``; ``first_mes`` → ``greeting``; ``mes_example`` → ``example_dialogue``;
- ``nickname`` (V3) → ``nickname``;
- ``extensions`` → ``extensions``, exactly (less ``characterlab``, see below);
- ``creator``, ``creator_notes``, ``tags``, ``character_version``, ``character_book`` (verbatim) → ``card.*``;
- the other V3 fields (``assets``, ``source``, ``group_only_greetings``, dates, multilingual notes) → ``card.v3``;
- unknown keys in ``data`` → ``card.unknown_data``; unknown top-level keys → ``card.top_level``.

A V1 card (no ``spec``) has its six fields at the top level; it is exported as V2.

What a character has and a card lacks (self-knowledge, voice, traits, values, boundaries, corpus) is written to
``extensions.characterlab`` and, so that the card also works in SillyTavern, as plain-text sections appended to
``description``. On import those fields come back, and the summary with them as long as the description is still
what export wrote; a description edited elsewhere (say in SillyTavern) wins. A character written here (``card`` is
``None``) is marked as such and comes back with ``card=None`` unless its card fields were edited elsewhere. Macros
(``{{char}}``, ``{{user}}``) are kept as written; rendering replaces them.

Reading never lets an exception other than :class:`CardError` escape, whatever the bytes: every parser used here
is either our own or has its failure modes listed where it is called.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import lzma
import math
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Annotated, Any, Final, Literal, NoReturn, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from characterlab._file_problems import kind_of, read_input_bytes, shown
from characterlab.characters._character_file import validation_problems
from characterlab.characters._model import CardFields, Character
from characterlab.characters._png import (
    PNG_SIGNATURE,
    card_texts,
    image_as_png,
    placeholder_png,
    with_card_texts,
)
from characterlab.errors import CardError, FileProblem

__all__ = [
    "CARD_EXTENSION_KEY",
    "CARD_EXTENSION_SCHEMA",
    "CardFormat",
    "card_from_json",
    "card_png_bytes",
    "card_to_v2",
    "card_to_v3",
    "parse_card",
    "read_card",
    "write_card",
]

CardFormat = Literal["v2", "v3", "png"]
"""How :func:`write_card` writes a card: V2 JSON, V3 JSON, or a PNG portrait carrying both."""

CARD_EXTENSION_KEY = "characterlab"
"""The key under a card's ``data.extensions`` where characterlab keeps what cards have no fields for."""

CARD_EXTENSION_SCHEMA = "characterlab/card-extension@1"
"""Version of what is stored under ``extensions.characterlab``."""

_V2: Final = "chara_card_v2"
_V3: Final = "chara_card_v3"
_SPEC_VERSIONS = {_V2: "2.0", _V3: "3.0"}
_V3_ONLY = (
    "assets",
    "nickname",
    "creator_notes_multilingual",
    "source",
    "group_only_greetings",
    "creation_date",
    "modification_date",
)
"""The fields V3 adds to V2's ``data``, in the order the V3 spec lists them."""

_LAB_FIELDS = ("self_knowledge", "voice", "traits", "values", "boundaries", "corpus")
"""Character fields that no card spec has."""

_EXTENSION_FIELD = f"data.extensions.{CARD_EXTENSION_KEY}"
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")
_MAX_JSON_DEPTH = 128  # Pydantic refuses deeper nesting anyway, with a far less helpful message
_MAX_CARD_JSON_BYTES = 64 * 2**20  # a lorebook of a few MB is large; this refuses zip bombs, not cards
_OTHER_IMAGES = {b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image"}

# What zipfile and the decompressors behind it raise on damaged archives; none of them means a bug of ours.
_ZIP_FAILURES = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    NotImplementedError,
    RuntimeError,
    ValueError,
    OSError,
    OverflowError,
    struct.error,
)


class _CardPart(BaseModel):
    """Base of the card models: types are checked strictly, unknown keys are kept for a lossless export."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)


class _CardV1(_CardPart):
    """The six fields of a V1 card (at the top level), which are also the core of V2's and V3's ``data``."""

    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    personality: str = ""
    scenario: str = ""
    first_mes: str = ""
    mes_example: str = ""


class _CardDataV2(_CardV1):
    """``data`` of a V2 card; fields the spec requires but a card lacks take their empty value."""

    creator_notes: str = ""
    system_prompt: str = ""
    post_history_instructions: str = ""
    alternate_greetings: list[str] = []
    character_book: dict[str, JsonValue] | None = None
    tags: list[str] = []
    creator: str = ""
    character_version: str = ""
    extensions: dict[str, JsonValue] = {}


class _CardDataV3(_CardDataV2):
    """``data`` of a V3 card. Of the V3 additions only ``nickname`` is used; the rest is kept verbatim."""

    nickname: str | None = None


class _CardV2(_CardPart):
    """A V2 card: ``{spec, spec_version, data}``."""

    spec: Literal["chara_card_v2"]
    spec_version: str = "2.0"
    data: _CardDataV2


class _CardV3(_CardPart):
    """A V3 card: ``{spec, spec_version, data}``."""

    spec: Literal["chara_card_v3"]
    spec_version: str = "3.0"
    data: _CardDataV3


class _CardExtension(BaseModel):
    """What characterlab stores under a card's ``data.extensions.characterlab``."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    schema_id: Literal["characterlab/card-extension@1"] = Field(alias="schema")
    written_here: bool = False
    """The character was written in characterlab and had no card fields (``Character.card`` was ``None``)."""
    character: dict[str, JsonValue] = {}
    """``summary`` and the non-empty fields of :data:`_LAB_FIELDS`, as in a character file."""
    nickname: str | None = None
    """The character's nickname, kept here in V2 cards, which have no field for it."""


def read_card(path: str | Path) -> Character:
    """Import a character card file: JSON (V1, V2 or V3), PNG with a ``chara`` or ``ccv3`` chunk, or CHARX.

    The format is recognised from the content, not the file name. In a PNG with both chunks the ``ccv3`` (V3)
    one is read.

    Args:
        path: The card file.

    Raises:
        CardError: if the file cannot be read or is not a valid card; the message names the file, and the chunk
            or field when there is one.
    """
    path = Path(path)
    data = read_input_bytes(path, error=CardError, kind="a card file")
    suffix = path.suffix.lower()
    # Content decides; the name only makes the message clearer when the content is not what the name promises.
    if suffix in (".png", ".apng") and not data.startswith(PNG_SIGNATURE):
        raise CardError.single(path, "expected a PNG file; it does not start with the PNG signature")
    if suffix == ".charx" and not data.startswith(_ZIP_SIGNATURES):
        raise CardError.single(path, "expected a CHARX file (a zip archive); it does not start like one")
    return parse_card(data, source=str(path))


def parse_card(data: bytes, *, source: str = "<card>") -> Character:
    """Import a character card from its bytes, recognising PNG, CHARX (zip) and JSON by their content.

    Args:
        data: The whole file.
        source: How to name the file in error messages.

    Raises:
        CardError: if the bytes are not a valid card.
    """
    if data.startswith(PNG_SIGNATURE):
        return _card_from_png(data, source=source)
    if data.startswith(_ZIP_SIGNATURES):
        return _card_from_charx(data, source=source)
    for signature, kind in _OTHER_IMAGES.items():
        if data.startswith(signature):
            raise CardError.single(source, f"expected a PNG, JSON or CHARX card, got {kind}")
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        raise CardError.single(source, "expected a PNG, JSON or CHARX card, got a WebP image; save it as PNG")
    return card_from_json(_parse_json(data, source=source), source=source)


def card_from_json(data: object, *, source: str = "<card>") -> Character:
    """Import a character card from its parsed JSON.

    A card without ``spec`` is V1 (six fields at the top level); otherwise ``spec`` must be ``chara_card_v2`` or
    ``chara_card_v3`` and the fields live under ``data``. Fields a spec requires but the card lacks take their
    empty value; fields of the wrong type are refused.

    Args:
        data: The card, as ``json.loads`` gives it.
        source: How to name the card in error messages.

    Raises:
        CardError: if ``data`` is not a card, naming the offending field and what was expected.
    """
    if not isinstance(data, dict):
        raise CardError.single(source, f"expected a JSON object (a character card), got {kind_of(data, syntax='json')}")
    _check_json(data, source=source)
    if "spec" not in data:
        if "name" not in data:
            raise CardError.single(
                source,
                "expected a character card: an object with `spec` and `data` (V2, V3) or with `name` (V1)",
            )
        v1 = _validate(_CardV1, data, source=source)
        fields = CardFields(spec="chara_card_v1", top_level=dict(v1.model_extra or {}))
        as_v2 = _CardDataV2(**{key: getattr(v1, key) for key in _CardV1.model_fields})
        return _character(as_v2, fields, nickname=None, source=source)
    spec = data["spec"]
    if spec not in (_V2, _V3):
        raise CardError.single(
            source,
            f"expected {_V2!r} or {_V3!r} (or no `spec` at all, for a V1 card), got {shown(spec, syntax='json')}",
            field="spec",
        )
    card: _CardV2 | _CardV3 = (
        _validate(_CardV2, data, source=source) if spec == _V2 else _validate(_CardV3, data, source=source)
    )
    card_data = card.data
    unknown = dict(card_data.model_extra or {})
    v3 = {key: unknown.pop(key) for key in _V3_ONLY if key in unknown} if spec == _V3 else {}
    fields = CardFields(
        spec=card.spec,
        spec_version=card.spec_version,
        creator=card_data.creator,
        creator_notes=card_data.creator_notes,
        tags=card_data.tags,
        character_version=card_data.character_version,
        character_book=card_data.character_book,
        v3=v3,
        unknown_data=unknown,
        top_level=dict(card.model_extra or {}),
    )
    nickname = card_data.nickname if isinstance(card_data, _CardDataV3) else None
    return _character(card_data, fields, nickname=nickname, source=source)


def card_to_v2(character: Character) -> dict[str, JsonValue]:
    """Export a character as a V2 card (``{"spec": "chara_card_v2", "spec_version": "2.0", "data": {...}}``).

    A card imported as V2 comes back equal to the original. V3-only fields (``assets``, ``source``, ...) have no
    place in V2 and are left out (export V3 or PNG to keep them); the nickname is kept under
    ``extensions.characterlab``.

    Args:
        character: The character.

    Returns:
        The card as JSON-ready data (a fresh copy the caller may change).
    """
    return _card(character, _V2)


def card_to_v3(character: Character) -> dict[str, JsonValue]:
    """Export a character as a V3 card (``{"spec": "chara_card_v3", "spec_version": "3.0", "data": {...}}``).

    A card imported as V3 comes back equal to the original, and a character comes back equal from
    :func:`card_from_json`.

    Args:
        character: The character.

    Returns:
        The card as JSON-ready data (a fresh copy the caller may change).
    """
    return _card(character, _V3)


def card_png_bytes(character: Character, image: str | Path | None = None) -> bytes:
    """Export a character as a PNG card: a portrait with the V2 card in ``chara`` and the V3 card in ``ccv3``.

    Args:
        character: The character.
        image: The portrait. A PNG is kept byte for byte apart from its card chunks (any old ones are removed);
            other images (JPEG, WebP) are converted to PNG. Without one, a placeholder is drawn from the name.

    Raises:
        CardError: if the image cannot be read.
    """
    if image is None:
        png, source = placeholder_png(character.name), "<placeholder>"
    else:
        png, source = image_as_png(Path(image)), str(image)
    texts = {"chara": _base64_json(card_to_v2(character)), "ccv3": _base64_json(card_to_v3(character))}
    return with_card_texts(png, texts, source=source)


def write_card(character: Character, path: str | Path, *, format: CardFormat, image: str | Path | None = None) -> Path:
    """Write a character as a card file that SillyTavern and other card readers import.

    Args:
        character: The character.
        path: Where to write.
        format: ``v2`` or ``v3`` for a JSON card, ``png`` for a portrait carrying both.
        image: The portrait of a ``png`` card (see :func:`card_png_bytes`).

    Returns:
        The path written.

    Raises:
        CardError: if the image cannot be read or the card cannot be written.
        ValueError: if an image is given for a JSON card.
    """
    path = Path(path)
    if format == "png":
        payload = card_png_bytes(character, image)
    elif image is not None:
        raise ValueError(f"a {format} card is JSON and has no image; use format='png' to embed one")
    else:
        card = card_to_v2(character) if format == "v2" else card_to_v3(character)
        payload = (json.dumps(card, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    try:
        path.write_bytes(payload)
    except OSError as error:
        raise CardError.single(path, f"cannot write the card ({error.strerror or error})") from None
    return path


def _card_from_png(png: bytes, *, source: str) -> Character:
    texts = card_texts(png, source=source)
    keyword = "ccv3" if "ccv3" in texts else "chara" if "chara" in texts else None
    if keyword is None:
        raise CardError.single(
            source, "expected a character card in a `chara` or `ccv3` tEXt chunk; this PNG has neither"
        )
    where = f"{source} ({keyword} chunk)"
    # Base64 in the wild is sometimes wrapped over lines or loses its padding; neither hides a real error.
    encoded = "".join(texts[keyword].split())
    if not encoded.isascii():
        raise CardError.single(where, "expected base64 text, found a character outside ASCII")
    try:
        raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except ValueError as error:
        raise CardError.single(where, f"expected base64 text ({error})") from None
    return card_from_json(_parse_json(raw, source=where), source=where)


def _card_from_charx(archive_bytes: bytes, *, source: str) -> Character:
    where = f"{source} (card.json)"
    try:
        with zipfile.ZipFile(io.BytesIO(archive_bytes)) as archive:
            if "card.json" not in archive.namelist():
                raw = None
            else:
                with archive.open("card.json") as member:
                    raw = member.read(_MAX_CARD_JSON_BYTES + 1)
    except _ZIP_FAILURES as error:
        raise CardError.single(source, f"expected a CHARX file (a zip archive) that can be read ({error})") from None
    if raw is None:
        raise CardError.single(source, "expected a CHARX archive with `card.json` at its root; it has none")
    if len(raw) > _MAX_CARD_JSON_BYTES:
        raise CardError.single(where, f"expected at most {_MAX_CARD_JSON_BYTES // 2**20} MiB of card JSON")
    return card_from_json(_parse_json(raw, source=where), source=where)


def _parse_json(raw: bytes, *, source: str) -> object:
    """Decode UTF-8 JSON strictly: no NaN or infinities."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CardError.single(source, f"expected UTF-8 text ({error.reason} at byte {error.start})") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as error:
        raise CardError.single(
            source, f"not valid JSON: {error.msg} (column {error.colno})", line=error.lineno
        ) from None
    # The hooks above and int() on a 5000-digit number raise plain ValueError; deep nesting, RecursionError.
    except ValueError as error:
        raise CardError.single(source, f"not valid JSON: {error}") from None
    except RecursionError:
        raise CardError.single(source, f"expected JSON nested at most {_MAX_JSON_DEPTH} levels deep") from None
    return value


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large for a number")
    return value


def _check_json(value: object, *, source: str) -> None:
    """Refuse what a card export could not write back: values JSON cannot hold, unpaired surrogates, deep nests.

    Parsed JSON holds no foreign values, but :func:`card_from_json` is also handed dicts built in Python.
    """
    stack: list[tuple[object, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        field = path or None
        if isinstance(item, str):
            _check_text(item, source=source, field=field)
        elif isinstance(item, float) and not math.isfinite(item):
            raise CardError.single(source, f"expected a finite number, got {item}", field=field)
        elif isinstance(item, dict | list):
            if depth >= _MAX_JSON_DEPTH:
                raise CardError.single(
                    source, f"expected JSON nested at most {_MAX_JSON_DEPTH} levels deep", field=field
                )
            if isinstance(item, list):
                stack.extend((child, f"{path}[{index}]", depth + 1) for index, child in enumerate(item))
                continue
            for key, child in item.items():
                if not isinstance(key, str):
                    raise CardError.single(source, f"expected text keys, got {key!r}", field=field)
                _check_text(key, source=source, field=field)
                stack.append((child, f"{path}.{key}" if path else key, depth + 1))
        elif item is not None and not isinstance(item, bool | int | float):
            raise CardError.single(
                source,
                f"expected JSON data (text, numbers, true/false, null, lists, objects), got {item!r}",
                field=field,
            )


def _check_text(text: str, *, source: str, field: str | None) -> None:
    # JSON's \ud800 escapes can spell lone surrogates, which no UTF-8 file (and so no export) can hold.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise CardError.single(
            source, f"expected text, got an unpaired surrogate \\u{ord(text[error.start]):04x}", field=field
        ) from None


_Model = TypeVar("_Model", bound=BaseModel)


def _validate(model: type[_Model], data: dict[Any, Any], *, source: str) -> _Model:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise CardError(source, validation_problems(error, data, {}, syntax="json")) from None


def _character(card_data: _CardDataV2, fields: CardFields, *, nickname: str | None, source: str) -> Character:
    """Build the character from a validated card, restoring what characterlab stored in its extension."""
    extensions = dict(card_data.extensions)
    raw_extension = extensions.pop(CARD_EXTENSION_KEY, None)
    extension = None if raw_extension is None else _validate_extension(raw_extension, source=source)
    stored = None if extension is None else _stored_fields(extension, name=card_data.name, source=source)
    written_here = extension is not None and extension.written_here and fields == _default_card_fields(fields.spec)
    kept = stored if stored is not None else Character(name=card_data.name)
    if nickname is None and extension is not None:
        nickname = extension.nickname
    return Character(
        name=card_data.name,
        nickname=nickname,
        summary=_restored_summary(card_data.description, extension, stored),
        self_knowledge=kept.self_knowledge,
        voice=kept.voice,
        personality=card_data.personality,
        scenario=card_data.scenario,
        traits=kept.traits,
        values=kept.values,
        boundaries=kept.boundaries,
        greeting=card_data.first_mes,
        alternate_greetings=card_data.alternate_greetings,
        example_dialogue=card_data.mes_example,
        system_prompt=card_data.system_prompt,
        post_history_instructions=card_data.post_history_instructions,
        corpus=kept.corpus,
        card=None if written_here else fields,
        extensions=extensions,
    )


def _validate_extension(raw: JsonValue, *, source: str) -> _CardExtension:
    try:
        return _CardExtension.model_validate(raw)
    except ValidationError as error:
        problems = validation_problems(error, raw, {}, syntax="json")
        raise CardError(source, [_under(_EXTENSION_FIELD, problem) for problem in problems]) from None


def _stored_fields(extension: _CardExtension, *, name: str, source: str) -> Character | None:
    """The fields stored in the extension, as a character named like the card; ``None`` if none are stored."""
    if not extension.character:
        return None
    where = f"{_EXTENSION_FIELD}.character"
    unknown = sorted(set(extension.character) - {"summary", *_LAB_FIELDS})
    if unknown:
        expected = f"unknown field; expected one of summary, {', '.join(_LAB_FIELDS)}"
        raise CardError(source, [FileProblem(expected, field=f"{where}.{key}") for key in unknown])
    try:
        return Character.model_validate({**extension.character, "name": name})
    except ValidationError as error:
        problems = validation_problems(error, extension.character, {}, syntax="json")
        raise CardError(source, [_under(where, problem) for problem in problems]) from None


def _under(prefix: str, problem: FileProblem) -> FileProblem:
    field = f"{prefix}.{problem.field}" if problem.field else prefix
    return FileProblem(problem.message, line=problem.line, field=field)


def _restored_summary(description: str, extension: _CardExtension | None, part: Character | None) -> str:
    """The summary behind a card's description: the stored one while the description is what export wrote.

    A description edited elsewhere wins; if only the part before the generated sections was edited, that part
    becomes the summary, so the sections are not repeated on the next export.
    """
    if extension is None or part is None:
        return description
    if "summary" in extension.character and description == _card_description(part.summary, part):
        return part.summary
    sections = _sections_text(part)
    if sections and description.endswith("\n\n" + sections):
        return description[: -len(sections) - 2]
    return description


def _card(character: Character, spec: Literal["chara_card_v2", "chara_card_v3"]) -> dict[str, JsonValue]:
    fields = character.card or _default_card_fields(spec)
    extensions: dict[str, JsonValue] = dict(character.extensions)
    extension = _extension_for(character, spec)
    if extension is not None:
        extensions[CARD_EXTENSION_KEY] = extension
    data: dict[str, JsonValue] = {
        "name": character.name,
        "description": _card_description(character.summary, character),
        "personality": character.personality,
        "scenario": character.scenario,
        "first_mes": character.greeting,
        "mes_example": character.example_dialogue,
        "creator_notes": fields.creator_notes,
        "system_prompt": character.system_prompt,
        "post_history_instructions": character.post_history_instructions,
        "alternate_greetings": list[JsonValue](character.alternate_greetings),
    }
    if fields.character_book is not None:
        data["character_book"] = fields.character_book
    data["tags"] = list[JsonValue](fields.tags)
    data["creator"] = fields.creator
    data["character_version"] = fields.character_version
    data["extensions"] = extensions
    if spec == _V3:
        for key in _V3_ONLY:
            if key == "nickname":
                if character.nickname is not None:
                    data[key] = character.nickname
            elif key == "group_only_greetings":
                data[key] = fields.v3.get(key, [])  # the one V3 addition the spec requires
            elif key in fields.v3:
                data[key] = fields.v3[key]
        for key, value in fields.v3.items():
            data.setdefault(key, value)
    # setdefault: a stray known key in the kept fields must not override the character's own value.
    for key, value in fields.unknown_data.items():
        data.setdefault(key, value)
    card: dict[str, JsonValue] = {
        "spec": spec,
        "spec_version": fields.spec_version if fields.spec == spec else _SPEC_VERSIONS[spec],
        "data": data,
    }
    for key, value in fields.top_level.items():
        card.setdefault(key, value)
    # The kept fields are shared with the (frozen) character; a caller editing the card must not edit it.
    return copy.deepcopy(card)


def _default_card_fields(spec: Literal["chara_card_v1", "chara_card_v2", "chara_card_v3"]) -> CardFields:
    """The card fields exported for a character written here, which has none of its own."""
    return CardFields(
        spec=spec,
        spec_version=_SPEC_VERSIONS.get(spec, ""),
        v3={"group_only_greetings": []} if spec == _V3 else {},
    )


def _extension_for(
    character: Character, spec: Literal["chara_card_v2", "chara_card_v3"]
) -> dict[str, JsonValue] | None:
    """What goes under ``extensions.characterlab``, or ``None`` when a plain card says it all.

    A character imported from a card and carrying nothing cards lack gets no extension, so that card round
    trips are exact. A character written here is marked, so that it comes back with ``card=None``. A V2 card
    keeps the nickname here, since V2 has no field for it.
    """
    present = [name for name in _LAB_FIELDS if getattr(character, name)]
    nickname = character.nickname if spec == _V2 else None
    if not present and nickname is None and character.card is not None:
        return None
    extension: dict[str, JsonValue] = {"schema": CARD_EXTENSION_SCHEMA}
    if character.card is None:
        extension["written_here"] = True
    if present:
        extension["character"] = character.model_dump(mode="json", include={"summary", *present})
    if nickname is not None:
        extension["nickname"] = nickname
    return extension


def _card_description(summary: str, character: Character) -> str:
    """The card's ``description``: the summary, then the sections SillyTavern would otherwise never see."""
    sections = _sections_text(character)
    if not sections:
        return summary
    return f"{summary.strip()}\n\n{sections}" if summary.strip() else sections


def _sections_text(character: Character) -> str:
    """Self-knowledge, voice, traits, values and boundaries as plain-text sections (empty ones left out)."""
    sections = []
    if character.self_knowledge.strip():
        sections.append(f"{{{{char}}}}'s nature:\n{character.self_knowledge.strip()}")
    if character.voice.strip():
        sections.append(f"How {{{{char}}}} speaks:\n{character.voice.strip()}")
    if character.traits:
        lines = [f"- {trait.id} ({trait.strength:g}): {trait.description.strip()}" for trait in character.traits]
        sections.append("{{char}}'s traits (strength from 0 to 1; 0.5 is neutral):\n" + "\n".join(lines))
    if character.values:
        sections.append("What {{char}} values:\n" + "\n".join(f"- {value.strip()}" for value in character.values))
    if character.boundaries:
        lines = []
        for boundary in character.boundaries:
            line = f"- {boundary.refuses.strip()}"
            if boundary.response.strip():
                line += f"\n  How {{{{char}}}} declines: {boundary.response.strip()}"
            lines.append(line)
        sections.append("What {{char}} will not do:\n" + "\n".join(lines))
    return "\n\n".join(sections)


def _base64_json(card: dict[str, JsonValue]) -> str:
    text = json.dumps(card, ensure_ascii=False, separators=(",", ":"))
    return base64.b64encode(text.encode("utf-8")).decode("ascii")
