"""The macros of character cards, replaced when a character is rendered (never when it is stored)."""

from __future__ import annotations

import re

__all__ = ["substitute_macros"]

_MACRO = re.compile(r"\{\{\s*(char|user|original)\s*\}\}|<(BOT|USER)>", re.IGNORECASE)


def substitute_macros(text: str, *, char: str, user: str, original: str | None = None) -> str:
    """Replace ``{{char}}``/``<BOT>`` and ``{{user}}``/``<USER>`` (in any letter case) by names.

    Args:
        text: Text from a character or card.
        char: What ``{{char}}`` stands for (the character's nickname if it has one, else its name).
        user: The user's display name.
        original: What ``{{original}}`` stands for (the system prompt a card's own ``system_prompt`` replaces);
            when ``None`` the macro is left as written.

    Examples:
        >>> substitute_macros("{{Char}} greets <user>.", char="Ada", user="Sam")
        'Ada greets Sam.'
    """

    def replace(match: re.Match[str]) -> str:
        name = (match.group(1) or match.group(2)).lower()
        if name in ("char", "bot"):
            return char
        if name == "user":
            return user
        return match.group(0) if original is None else original

    return _MACRO.sub(replace, text)
