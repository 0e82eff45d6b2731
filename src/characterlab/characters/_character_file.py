"""Reading and writing ``*.character.yaml`` files, with errors that point at the line and field.

PyYAML's composed node tree knows where every value starts; Pydantic's errors know which field is wrong. Joining
the two gives ``ada.character.yaml:14: traits[2].strength: expected a number in [0, 1], got "high"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from pathlib import Path

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from characterlab._file_problems import DataPath, Syntax, describe_problem, kind_of, parse_yaml, read_input_bytes, shown
from characterlab._file_problems import validation_problems as _validation_problems
from characterlab.characters._model import CHARACTER_SCHEMA, Character
from characterlab.errors import CharacterFileError, FileProblem

__all__ = [
    "CHARACTER_SUFFIX",
    "dump_character",
    "load_character",
    "parse_character",
    "save_character",
    "validation_problems",
]

CHARACTER_SUFFIX = ".character.yaml"


def load_character(path: str | Path) -> Character:
    """Load and validate a character file.

    Args:
        path: A ``*.character.yaml`` file.

    Raises:
        CharacterFileError: if the file cannot be read, is not YAML, or is not a valid character; the message
            names the file, line and field of every problem found.
    """
    path = Path(path)
    data = read_input_bytes(path, error=CharacterFileError, kind="a character file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CharacterFileError.single(path, f"expected UTF-8 text ({error.reason} at byte {error.start})") from None
    return parse_character(text, source=str(path))


def parse_character(text: str, *, source: str = "<character>") -> Character:
    """Validate the YAML text of a character file.

    Args:
        text: The file's contents.
        source: How to name the file in error messages.

    Raises:
        CharacterFileError: if the text is not YAML or not a valid character.
    """
    data, lines = parse_yaml(text, source=source, error=CharacterFileError)
    if not isinstance(data, dict):
        raise CharacterFileError.single(
            source,
            f"expected a mapping of fields starting with `schema: {CHARACTER_SCHEMA}`, got {kind_of(data)}",
            line=1,
        )
    if "schema" not in data:
        raise CharacterFileError.single(
            source, f"missing; expected `schema: {CHARACTER_SCHEMA}`", line=1, field="schema"
        )
    try:
        return Character.model_validate(data)
    except ValidationError as error:
        raise CharacterFileError(source, validation_problems(error, data, lines)) from None


def dump_character(character: Character) -> str:
    """Write a character as YAML in the file's field order, leaving out fields that hold their defaults.

    Multi-line text is written as literal blocks (``|``) so that the file stays pleasant to edit by hand.
    """
    body = character.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    body.pop("schema", None)
    data = {"schema": CHARACTER_SCHEMA, **body}
    return yaml.dump(data, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=_WIDTH)


def save_character(character: Character, path: str | Path) -> Path:
    """Write a character file; the result loads back as an equal character.

    Raises:
        CharacterFileError: if the file cannot be written (no such folder, no permission, disk full).
    """
    path = Path(path)
    try:
        path.write_text(dump_character(character), encoding="utf-8")
    except OSError as error:
        raise CharacterFileError.single(path, f"cannot write the file ({error.strerror or error})") from None
    return path


def validation_problems(
    error: ValidationError, data: object, lines: Mapping[DataPath, int], *, syntax: Syntax = "yaml"
) -> list[FileProblem]:
    """Turn Pydantic's errors about a character into problems that name the line, the field and what was expected.

    Args:
        error: The validation error.
        data: The data that was validated, used to tell real keys from the tags Pydantic adds to locations.
        lines: Line of every value, keyed by its path in ``data`` (empty when the input has no lines).
        syntax: The syntax the character was written in (a card holds it as JSON).
    """
    return _validation_problems(error, data, lines=lines, describe=partial(_describe, syntax=syntax))


_WIDTH = 100
_YAML_BREAKS = ("\r", "\x85", "\u2028", "\u2029")


class _BlockDumper(yaml.SafeDumper):
    """A YAML dumper that writes multi-line strings as ``|`` blocks."""


def _represent_text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if any(char in value for char in _YAML_BREAKS):
        style: str | None = '"'  # YAML readers normalise these breaks in any other style
    elif len(value) > _WIDTH and "\n" not in value.rstrip("\n"):
        style = ">"  # a long paragraph: folded, so that it wraps like the files people write by hand
    elif "\n" in value and not value.endswith((" ", "\t")):
        style = "|"  # line breaks matter (lists, verse, dialogue): keep them as written
    else:
        style = None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _represent_text)


def _describe(detail: ErrorDetails, *, syntax: Syntax) -> str:
    kind = detail["type"]
    ctx = detail.get("ctx") or {}
    if kind == "union_tag_invalid":
        return f"expected `kind` to be one of {ctx.get('expected_tags')}, got {shown(ctx.get('tag'), syntax=syntax)}"
    if kind == "union_tag_not_found":
        return f"missing `{ctx.get('discriminator', 'kind').strip(chr(39))}`; it says which kind of scorer this is"
    return describe_problem(
        detail,
        syntax=syntax,
        unknown_field="unknown field; check its spelling, or keep data of your own under `extensions`",
        own_kinds=("unit_interval", "direction", "regex", "duplicate_trait"),
    )
