"""How a bad value is quoted back to the user in an error message."""

from __future__ import annotations

import json
from typing import Literal

__all__ = ["kind_of", "shown"]

Syntax = Literal["yaml", "json"]

_KINDS = {str: "text", bool: "true/false", int: "a number", float: "a number", list: "a list"}


def kind_of(value: object, *, syntax: Syntax = "yaml") -> str:
    """Name the kind of a value in the words of the file's syntax (``a mapping`` in YAML, ``an object`` in JSON)."""
    if value is None:
        return "nothing" if syntax == "yaml" else "null"
    if isinstance(value, dict):
        return "a mapping" if syntax == "yaml" else "an object"
    return _KINDS.get(type(value), type(value).__name__)


def shown(value: object, *, syntax: Syntax = "yaml") -> str:
    """Quote a value as JSON, so that ``"high"`` keeps its quotes; lists and mappings are named, not dumped."""
    if isinstance(value, dict | list):
        return kind_of(value, syntax=syntax)
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)
