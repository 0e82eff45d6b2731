"""Locating what is wrong in a YAML or JSON input file: the line, the field, and what was expected.

Character files, cards and study data files all report their problems the same way,
``file:line: field: what was expected, got what``. PyYAML's composed node tree knows where every value starts;
Pydantic's errors know which field is wrong and why. This module joins the two and words the result, so that
every reader of user files gives the same kind of message.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final, Literal

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from characterlab.errors import FileProblem, _FileError

__all__ = [
    "DataPath",
    "Syntax",
    "describe_problem",
    "field_name",
    "kind_of",
    "parse_yaml",
    "read_input_bytes",
    "read_utf8",
    "shown",
    "validation_problems",
]

Syntax = Literal["yaml", "json"]
"""The syntax of the file, which decides the words of a message (``a mapping`` in YAML, ``an object`` in JSON)."""

DataPath = tuple[str | int, ...]
"""Where a value sits in parsed data: keys and list indexes from the root."""

_SHOWN_LIMIT: Final = 80
_KINDS: Final = {str: "text", bool: "true/false", int: "a number", float: "a number", list: "a list", tuple: "a list"}


def kind_of(value: object, *, syntax: Syntax = "yaml") -> str:
    """Name the kind of a value in the words of the file's syntax (``a mapping`` in YAML, ``an object`` in JSON)."""
    if value is None:
        return "nothing" if syntax == "yaml" else "null"
    if isinstance(value, dict):
        return "a mapping" if syntax == "yaml" else "an object"
    return _KINDS.get(type(value), type(value).__name__)


def shown(value: object, *, syntax: Syntax = "yaml") -> str:
    """Quote a value as JSON, so that ``"high"`` keeps its quotes; lists and mappings are named, not dumped.

    Long values are cut to 80 characters, so that one bad paragraph does not bury the rest of the message.
    """
    if isinstance(value, dict | list | tuple):
        return kind_of(value, syntax=syntax)
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _SHOWN_LIMIT else f"{text[: _SHOWN_LIMIT - 3]}..."


def read_input_bytes(path: str | Path, *, error: type[_FileError], kind: str) -> bytes:
    """Read an input file whole, turning the ways reading fails into the file kind's own error.

    Args:
        path: The file.
        error: The error class to raise.
        kind: What the file should be, for the message when it is a folder (``"a data file"``).
    """
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise error.single(path, "no such file") from None
    except IsADirectoryError:
        raise error.single(path, f"expected {kind}, got a folder") from None
    except OSError as problem:
        raise error.single(path, f"cannot read the file ({problem.strerror or problem})") from None


def read_utf8(data: bytes, path: str | Path, *, error: type[_FileError]) -> str:
    """Decode a file's bytes as UTF-8 (a leading byte-order mark dropped); a bad byte is an error naming its line."""
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as problem:
        line = data.count(b"\n", 0, problem.start) + 1
        raise error.single(path, f"expected UTF-8 text ({problem.reason})", line=line) from None


def parse_yaml(text: str, *, source: str, error: type[_FileError]) -> tuple[Any, dict[DataPath, int]]:
    """Parse YAML text and find the line of every value.

    Args:
        text: The file's contents.
        source: How to name the file in error messages.
        error: The error class to raise (each kind of file has its own).

    Returns:
        The parsed data and the line of every value, keyed by its path (empty for an empty document).

    Raises:
        _FileError: (of class ``error``) if the text is not YAML or a mapping repeats a key; PyYAML would keep the
            last value of a repeated key silently, losing what the person wrote first.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as problem:
        mark = problem.problem_mark or problem.context_mark
        line = mark.line + 1 if mark is not None else None
        raise error.single(source, f"not valid YAML: {problem.problem or problem}", line=line) from None
    except yaml.YAMLError as problem:
        raise error.single(source, f"not valid YAML: {problem}") from None
    if root is None:
        return data, {}
    duplicates = list(_duplicate_keys(root))
    if duplicates:
        raise error(source, duplicates)
    return data, _value_lines(root)


def validation_problems(
    error: ValidationError,
    data: object,
    *,
    describe: Callable[[ErrorDetails], str],
    line: int | None = None,
    lines: Mapping[DataPath, int] | None = None,
) -> list[FileProblem]:
    """Turn Pydantic's errors into problems that name the line, the field and what was expected.

    Args:
        error: The validation error.
        data: What was validated, used to tell real keys from the tags Pydantic adds to error locations.
        describe: Words one error (usually :func:`describe_problem` with the file kind's own settings).
        line: The line of every problem (a JSON Lines record sits on one line).
        lines: The line of every value by its path in ``data`` (YAML), used when ``line`` is not given.
    """
    problems = []
    for detail in error.errors(include_url=False):
        path = _data_path(detail["loc"], data)
        where = line if line is not None else _nearest_line(path, lines or {})
        problems.append(FileProblem(describe(detail), line=where, field=field_name(path) or None))
    return problems


_EXPECTED: Final = {
    "string_type": "expected text",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
}


def describe_problem(
    detail: ErrorDetails,
    *,
    syntax: Syntax,
    unknown_field: str = "unknown field; check its spelling",
    own_kinds: tuple[str, ...] = (),
) -> str:
    """Word one Pydantic error as ``expected ..., got ...``.

    Args:
        detail: One of the validation error's details.
        syntax: The file's syntax, for the words of the message.
        unknown_field: The message for a field the model does not know.
        own_kinds: Error kinds whose message was written for the user already (custom validators); it is kept.
    """
    kind = detail["type"]
    ctx = detail.get("ctx") or {}
    got = detail.get("input")
    if kind == "missing":
        return "missing; this field is required"
    if kind == "extra_forbidden":
        return unknown_field
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected {kind_of({}, syntax=syntax)}, got {kind_of(got, syntax=syntax)}"
    if kind in _EXPECTED:
        message = f"{_EXPECTED[kind]}, got {shown(got, syntax=syntax)}"
        if syntax == "yaml" and isinstance(got, bool):
            # PyYAML reads unquoted yes/no/on/off as true/false: the commonest surprise in a YAML file.
            message += " (YAML reads unquoted yes, no, on and off as true/false; put the text in quotes)"
        return message
    if kind == "string_too_short":
        return "expected text, got an empty value"
    if kind == "too_short":
        return f"expected at least {ctx.get('min_length', 1)} item(s), got {ctx.get('actual_length', 0)}"
    if kind == "too_long":
        return f"expected at most {ctx.get('max_length')} item(s), got {ctx.get('actual_length')}"
    if kind == "string_pattern_mismatch":
        return f"expected text matching {ctx.get('pattern')}, got {shown(got, syntax=syntax)}"
    if kind == "literal_error":
        return f"expected {ctx.get('expected')}, got {shown(got, syntax=syntax)}"
    if kind == "value_error" or kind.startswith(own_kinds):
        return detail["msg"].removeprefix("Value error, ")
    message = detail["msg"]
    return f"{message[:1].lower()}{message[1:]}, got {shown(got, syntax=syntax)}"


def field_name(path: DataPath) -> str:
    """Write a data path the way a person names a field: ``traits[2].strength``."""
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


def _value_lines(node: yaml.Node, path: DataPath = ()) -> dict[DataPath, int]:
    lines = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                lines.update(_value_lines(value, (*path, key.value)))
                # A block value starts on the line after its key; the key's line is where a person looks.
                lines[(*path, key.value)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines.update(_value_lines(item, (*path, index)))
    return lines


def _duplicate_keys(node: yaml.Node, path: DataPath = ()) -> Iterator[FileProblem]:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    yield FileProblem(
                        "duplicate key; each field may appear once",
                        line=key.start_mark.line + 1,
                        field=field_name((*path, key.value)),
                    )
                seen.add(key.value)
                yield from _duplicate_keys(value, (*path, key.value))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicate_keys(item, (*path, index))


def _data_path(loc: tuple[str | int, ...], data: object) -> DataPath:
    """Drop the parts of a Pydantic location that are not keys in the data (union tags, validator names)."""
    path: list[str | int] = []
    current: object = data
    for index, part in enumerate(loc):
        found, child = _child(current, part)
        if found:
            current = child
        elif not (index == len(loc) - 1 and isinstance(current, dict)):
            continue  # not a key: a union tag or a validator's name
        # else: a missing field, named though it has no value of its own
        path.append(part)
    return tuple(path)


def _child(value: object, key: str | int) -> tuple[bool, object]:
    if isinstance(value, dict) and key in value:
        return True, value[key]
    if isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
        return True, value[key]
    return False, None


def _nearest_line(path: DataPath, lines: Mapping[DataPath, int]) -> int | None:
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None
