"""Card macros are replaced case-insensitively, in one pass."""

from __future__ import annotations

import pytest

from characterlab.characters import substitute_macros


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{char}} and {{user}}", "Ada and Sam"),
        ("{{CHAR}} and {{User}}", "Ada and Sam"),
        ("<BOT> and <USER>", "Ada and Sam"),
        ("<bot> and <user>", "Ada and Sam"),
        ("{{ char }}", "Ada"),
        ("{{original}} stays", "{{original}} stays"),
        ("{{random:a,b}} is not ours", "{{random:a,b}} is not ours"),
    ],
)
def test_substitution(text: str, expected: str) -> None:
    assert substitute_macros(text, char="Ada", user="Sam") == expected


def test_names_that_look_like_macros_are_not_expanded_again() -> None:
    assert substitute_macros("{{char}}", char="{{user}}", user="Sam") == "{{user}}"


def test_original_is_filled_when_given() -> None:
    assert substitute_macros("A {{Original}} B", char="x", user="y", original="core") == "A core B"
