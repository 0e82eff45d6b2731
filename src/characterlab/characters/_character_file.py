"""Reading and writing ``*.character.yaml`` files, with errors that point at the line and field.

PyYAML's composed node tree knows where every value starts; Pydantic's errors know which field is wrong. Joining
the two gives ``ada.character.yaml:14: traits[2].strength: expected a number in [0, 1], got "high"``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from characterlab.characters._input_file import read_input_file
from characterlab.characters._model import CHARACTER_SCHEMA, Character
from characterlab.characters._shown import kind_of, shown
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

_Path = tuple[str | int, ...]


def load_character(path: str | Path) -> Character:
    """Load and validate a character file.

    Args:
        path: A ``*.character.yaml`` file.

    Raises:
        CharacterFileError: if the file cannot be read, is not YAML, or is not a valid character; the message
            names the file, line and field of every problem found.
    """
    path = Path(path)
    data = read_input_file(path, error=CharacterFileError, kind="a character file")
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
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        raise CharacterFileError.single(source, f"not valid YAML: {error.problem or error}", line=line) from None
    except yaml.YAMLError as error:
        raise CharacterFileError.single(source, f"not valid YAML: {error}") from None
    lines = _value_lines(root) if root is not None else {}
    duplicates = list(_duplicate_keys(root)) if root is not None else []
    if duplicates:
        raise CharacterFileError(source, duplicates)
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


def validation_problems(error: ValidationError, data: object, lines: dict[_Path, int]) -> list[FileProblem]:
    """Turn Pydantic's errors into problems that name the line, the field and what was expected.

    Args:
        error: The validation error.
        data: The data that was validated, used to tell real keys from the tags Pydantic adds to locations.
        lines: Line of every value, keyed by its path in ``data`` (empty when the input has no lines).
    """
    problems = []
    for detail in error.errors(include_url=False):
        path = _data_path(detail["loc"], data)
        line = _nearest_line(path, lines)
        problems.append(FileProblem(_describe(detail), line=line, field=_field_name(path) or None))
    return problems


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


def _value_lines(node: yaml.Node, path: _Path = ()) -> dict[_Path, int]:
    lines = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                # A scalar value sits on its key's line; a block value starts on the next, so use the key's.
                lines.update(_value_lines(value, (*path, key.value)))
                lines[(*path, key.value)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines.update(_value_lines(item, (*path, index)))
    return lines


def _duplicate_keys(node: yaml.Node, path: _Path = ()) -> Iterator[FileProblem]:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    yield FileProblem(
                        "duplicate key; each field may appear once",
                        line=key.start_mark.line + 1,
                        field=_field_name((*path, key.value)),
                    )
                seen.add(key.value)
                yield from _duplicate_keys(value, (*path, key.value))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicate_keys(item, (*path, index))


def _data_path(loc: tuple[str | int, ...], data: object) -> _Path:
    """Drop the parts of a Pydantic location that are not keys in the data (union tags, validator names)."""
    path: list[str | int] = []
    current: object = data
    for index, part in enumerate(loc):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int):
            if not 0 <= part < len(current):
                continue
            current = current[part]
        elif not (index == len(loc) - 1 and isinstance(current, dict)):
            continue  # not a key: a union tag or a validator's name
        # else: a missing field, named though it has no line of its own
        path.append(part)
    return tuple(path)


def _nearest_line(path: _Path, lines: dict[_Path, int]) -> int | None:
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def _field_name(path: _Path) -> str:
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else part)
    return name


_EXPECTED = {
    "string_type": "expected text",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "list_type": "expected a list",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
}


def _describe(detail: ErrorDetails) -> str:
    kind = detail["type"]
    ctx = detail.get("ctx") or {}
    got = detail.get("input")
    if kind == "missing":
        return "missing; this field is required"
    if kind == "extra_forbidden":
        return "unknown field; check its spelling, or keep data of your own under `extensions`"
    if kind in _EXPECTED:
        return f"{_EXPECTED[kind]}, got {shown(got)}"
    if kind == "string_too_short":
        return "expected text, got an empty value"
    if kind == "too_short":
        return f"expected at least {ctx.get('min_length', 1)} item(s), got {ctx.get('actual_length', 0)}"
    if kind == "string_pattern_mismatch":
        return f"expected text matching {ctx.get('pattern')}, got {shown(got)}"
    if kind == "literal_error":
        return f"expected {ctx.get('expected')}, got {shown(got)}"
    if kind == "union_tag_invalid":
        return f"expected `kind` to be one of {ctx.get('expected_tags')}, got {shown(ctx.get('tag'))}"
    if kind == "union_tag_not_found":
        return f"missing `{ctx.get('discriminator', 'kind').strip(chr(39))}`; it says which kind of scorer this is"
    if kind.startswith(("unit_interval", "direction", "regex", "duplicate_trait")) or kind == "value_error":
        return detail["msg"].removeprefix("Value error, ")
    message = detail["msg"]
    return f"{message[:1].lower()}{message[1:]}, got {shown(got)}"
