"""The characters pages: browse, view, write and edit (with each problem shown on its line), import cards, export.

Only valid characters are ever stored: every save parses the YAML first, and a text that does not parse is shown
again with its problems, unchanged, so nothing the user typed is lost.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

import characterlab
from characterlab._file_problems import read_utf8
from characterlab.characters import (
    CHARACTER_SUFFIX,
    Character,
    card_png_bytes,
    card_to_v2,
    card_to_v3,
    character_template,
    dump_character,
    load_character,
    parse_card,
    parse_character,
)
from characterlab.errors import CardError, CharacterFileError, CharacterlabError, FileProblem
from characterlab.store import CharacterRecord
from characterlab.web._lab import Lab, lab_of
from characterlab.web._pages import page
from characterlab.web._security import require_csrf

__all__ = ["CARD_SUFFIXES", "IMPORT_SUFFIXES", "YAML_SUFFIXES", "examples_folder", "router", "safe_file_name"]


CARD_SUFFIXES = (".png", ".json", ".charx")
"""Files imported as character cards."""
YAML_SUFFIXES = (".yaml", ".yml")
"""Files imported as characterlab character files."""
IMPORT_SUFFIXES = CARD_SUFFIXES + YAML_SUFFIXES
"""Every file name ending the import form accepts."""

MAX_YAML_CHARS = 2_000_000
MAX_FIELD_CHARS = 200_000
_FORM_OVERHEAD = 64 * 1024
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_-]+")


async def _within_upload_limit(request: Request, lab: Annotated[Lab, Depends(lab_of)]) -> None:
    """Refuse a body that announces itself as too large, before anything (even the CSRF check) reads it."""
    if request.method != "POST":
        return
    declared = request.headers.get("content-length", "")
    # A multipart body carries the form's other fields and boundaries besides the file: allow for them here, and
    # count the file's own bytes exactly when it is read.
    limit = lab.settings.max_upload_bytes + _FORM_OVERHEAD
    if declared.isdigit() and int(declared) > limit:
        accepted = _size(lab.settings.max_upload_bytes)
        raise HTTPException(413, f"the upload is {_size(int(declared))}; this lab accepts files up to {accepted}")


LabDep = Annotated[Lab, Depends(lab_of)]

# The size check comes first so that an oversized body is refused before the CSRF check parses the form.
router = APIRouter(dependencies=[Depends(_within_upload_limit), Depends(require_csrf)])


@dataclass(frozen=True)
class YamlLine:
    """One line of a YAML text as the editor lists it, with the problems found on it."""

    number: int
    text: str
    problems: tuple[str, ...]


def examples_folder() -> Path:
    """The repository's ``examples/characters`` folder (absent in an installed package)."""
    return Path(characterlab.__file__).parents[2] / "examples" / "characters"


def safe_file_name(name: str) -> str:
    """A download name made from a character's name: letters, digits, ``_`` and ``-`` only, never empty."""
    cleaned = _UNSAFE_NAME.sub("_", name).strip("_")[:80]
    return cleaned or "character"


@router.get("/characters", response_class=HTMLResponse)
def characters_page(request: Request, lab: LabDep) -> HTMLResponse:
    """Every stored character, with the import form."""
    return _list_page(request, lab)


@router.post("/characters/examples")
def add_examples(lab: LabDep) -> RedirectResponse:
    """Import the bundled example characters, leaving out any whose name is already taken."""
    folder = examples_folder()
    if folder.is_dir():
        taken = {record.name for record in lab.store.characters()}
        for path in sorted(folder.glob(f"*{CHARACTER_SUFFIX}")):
            character = load_character(path)
            if character.name in taken:
                continue
            lab.store.save_character(character.name, path.read_text(encoding="utf-8"), origin=f"file: {path.name}")
            taken.add(character.name)
    return RedirectResponse("/characters", status_code=303)


@router.post("/characters/import", response_model=None)
async def import_file(request: Request, lab: LabDep) -> Response:
    """Import an uploaded card (PNG, JSON, CHARX) or character file (YAML) and open it."""
    # The form is read here rather than declared as parameters, so that FastAPI does not parse the body before
    # the size check above has seen its Content-Length.
    form = await request.form(max_files=1, max_fields=8)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _list_page(request, lab, status_code=400, import_error="choose a file to import")
    # The name only picks the format and labels the character; it never becomes a path.
    filename = PurePath(upload.filename.replace("\\", "/")).name[:200] or "upload"
    suffix = PurePath(filename).suffix.lower()
    if suffix not in IMPORT_SUFFIXES:
        return _list_page(
            request,
            lab,
            status_code=400,
            import_error=f"cannot import {filename}: the lab accepts {', '.join(IMPORT_SUFFIXES)} files",
        )
    limit = lab.settings.max_upload_bytes
    data = await upload.read(limit + 1)
    await upload.close()
    if len(data) > limit:
        return _list_page(
            request,
            lab,
            status_code=413,
            import_error=f"cannot import {filename}: it is larger than {_size(limit)}, the most this lab accepts",
        )
    try:
        if suffix in CARD_SUFFIXES:
            character = parse_card(data, source=filename)
            origin = f"card: {filename}"
        else:
            character = parse_character(read_utf8(data, filename, error=CharacterFileError), source=filename)
            origin = f"file: {filename}"
    except (CardError, CharacterFileError) as error:
        return _list_page(request, lab, status_code=400, import_error=str(error))
    record = lab.store.save_character(character.name, dump_character(character), origin=origin)
    return RedirectResponse(f"/characters/{record.id}", status_code=303)


@router.get("/characters/new", response_class=HTMLResponse)
def new_character_page(request: Request, name: str = "New character") -> HTMLResponse:
    """The editor, holding a commented template to fill in."""
    text = character_template(name.strip()[:200] or "New character")
    return _editor(request, record=None, text=text)


@router.post("/characters/new", response_class=HTMLResponse, response_model=None)
def create_character(request: Request, lab: LabDep, yaml: Annotated[str, Form(max_length=MAX_YAML_CHARS)]) -> Response:
    """Save a new character and open it, or show the editor again with the problems."""
    text = _lines(yaml)
    try:
        character = parse_character(text, source="the new character")
    except CharacterFileError as error:
        return _editor(request, record=None, text=text, error=error, status_code=422)
    record = lab.store.save_character(character.name, text, origin="created")
    return RedirectResponse(f"/characters/{record.id}", status_code=303)


@router.get("/characters/{character_id}", response_class=HTMLResponse)
def character_page(request: Request, character_id: str, lab: LabDep) -> HTMLResponse:
    """One character: what it is, and what to do with it."""
    record, character = lab.character(character_id)
    return page(request, "character.html", record=record, character=character)


@router.get("/characters/{character_id}/edit", response_class=HTMLResponse)
def edit_page(request: Request, character_id: str, lab: LabDep) -> HTMLResponse:
    """The editor for a stored character."""
    record, character = lab.character(character_id)
    return _editor(request, record=record, text=record.yaml, character=character)


@router.post("/characters/{character_id}/edit", response_class=HTMLResponse, response_model=None)
def save_edit(
    request: Request, character_id: str, lab: LabDep, yaml: Annotated[str, Form(max_length=MAX_YAML_CHARS)]
) -> Response:
    """Replace a character's YAML, or show the editor again with the problems (the stored one unchanged)."""
    record, stored = lab.character(character_id)
    text = _lines(yaml)
    try:
        character = parse_character(text, source=record.name)
    except CharacterFileError as error:
        return _editor(request, record=record, text=text, character=stored, error=error, status_code=422)
    lab.store.save_character(character.name, text, origin=record.origin, character_id=record.id)
    return RedirectResponse(f"/characters/{record.id}", status_code=303)


@router.post("/characters/{character_id}/fields", response_class=HTMLResponse, response_model=None)
def save_fields(
    request: Request,
    character_id: str,
    lab: LabDep,
    name: Annotated[str, Form(max_length=500)],
    summary: Annotated[str, Form(max_length=MAX_FIELD_CHARS)] = "",
    voice: Annotated[str, Form(max_length=MAX_FIELD_CHARS)] = "",
    greeting: Annotated[str, Form(max_length=MAX_FIELD_CHARS)] = "",
) -> Response:
    """Change the common fields; the YAML is written anew from the character (its comments are not kept)."""
    record, stored = lab.character(character_id)
    update = {"name": name.strip(), "summary": _lines(summary), "voice": _lines(voice), "greeting": _lines(greeting)}
    # model_copy does not validate, so the new text is parsed again: an empty name is refused like in the YAML.
    text = dump_character(stored.model_copy(update=update))
    try:
        character = parse_character(text, source=record.name)
    except CharacterFileError as error:
        return _editor(request, record=record, text=text, character=stored, error=error, status_code=422)
    lab.store.save_character(character.name, text, origin=record.origin, character_id=record.id)
    return RedirectResponse(f"/characters/{record.id}", status_code=303)


@router.post("/characters/{character_id}/delete")
def delete_character(character_id: str, lab: LabDep) -> RedirectResponse:
    """Delete a character (its chats stay, without it)."""
    lab.store.delete_character(character_id)
    return RedirectResponse("/characters", status_code=303)


@router.get("/characters/{character_id}/export/v2.json")
def export_v2(character_id: str, lab: LabDep) -> Response:
    """The character as a V2 card (JSON)."""
    record, character = lab.character(character_id)
    return _download(
        json.dumps(card_to_v2(character), ensure_ascii=False, indent=2), record, ".v2.json", "application/json"
    )


@router.get("/characters/{character_id}/export/v3.json")
def export_v3(character_id: str, lab: LabDep) -> Response:
    """The character as a V3 card (JSON)."""
    record, character = lab.character(character_id)
    return _download(
        json.dumps(card_to_v3(character), ensure_ascii=False, indent=2), record, ".v3.json", "application/json"
    )


@router.get("/characters/{character_id}/export/card.png")
def export_png(character_id: str, lab: LabDep) -> Response:
    """The character as a PNG card carrying both the V2 and the V3 card."""
    record, character = lab.character(character_id)
    return _download(card_png_bytes(character), record, ".png", "image/png")


@router.get("/characters/{character_id}/export/character.yaml")
def export_yaml(character_id: str, lab: LabDep) -> Response:
    """The character file, exactly as stored."""
    record = lab.character(character_id)[0]
    return _download(record.yaml, record, CHARACTER_SUFFIX, "application/yaml; charset=utf-8")


def _list_page(request: Request, lab: Lab, *, status_code: int = 200, import_error: str | None = None) -> HTMLResponse:
    records = lab.store.characters()
    return page(
        request,
        "characters.html",
        status_code=status_code,
        characters=[(record, _excerpt(record)) for record in records],
        import_error=import_error,
        accept=",".join(IMPORT_SUFFIXES),
        examples=examples_folder().is_dir(),
    )


def _editor(
    request: Request,
    *,
    record: CharacterRecord | None,
    text: str,
    character: Character | None = None,
    error: CharacterFileError | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    problems: tuple[FileProblem, ...] = error.problems if error is not None else ()
    return page(
        request,
        "character_edit.html",
        status_code=status_code,
        record=record,
        character=character,
        text=text,
        problems=problems,
        yaml_lines=_yaml_lines(text, problems) if problems else [],
        action=f"/characters/{record.id}/edit" if record is not None else "/characters/new",
    )


def _yaml_lines(text: str, problems: tuple[FileProblem, ...]) -> list[YamlLine]:
    """The text's lines, each with the problems located on it (indentation kept visible as no-break spaces)."""
    by_line: dict[int, list[str]] = {}
    for problem in problems:
        if problem.line is not None:
            label = f"{problem.field}: {problem.message}" if problem.field else problem.message
            by_line.setdefault(problem.line, []).append(label)
    lines = text.split("\n")
    if len(lines) > 1 and lines[-1] == "" and len(lines) not in by_line:
        lines.pop()  # the empty "line" after the final line break, unless a problem points at the end
    return [
        YamlLine(number, _keep_indent(line), tuple(by_line.get(number, ())))
        for number, line in enumerate(lines, start=1)
    ]


def _keep_indent(line: str) -> str:
    # HTML collapses leading spaces; YAML's meaning is in them.
    stripped = line.lstrip(" ")
    return "\u00a0" * (len(line) - len(stripped)) + stripped


def _excerpt(record: CharacterRecord, limit: int = 160) -> str:
    try:
        summary = " ".join(parse_character(record.yaml, source=record.name).summary.split())
    except CharacterlabError:
        # Stored characters are valid when saved; a schema change since then must not break the list.
        return ""
    return summary if len(summary) <= limit else summary[: limit - 1].rstrip() + "…"


def _download(body: str | bytes, record: CharacterRecord, suffix: str, media_type: str) -> Response:
    name = safe_file_name(record.name) + suffix
    return Response(body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _lines(text: str) -> str:
    """Browsers send a textarea's line breaks as CRLF; the files use LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _size(count: int) -> str:
    if count >= 1024 * 1024:
        return f"{count / (1024 * 1024):.1f} MiB ({count} bytes)"
    if count >= 1024:
        return f"{count / 1024:.1f} KiB ({count} bytes)"
    return f"{count} bytes"
