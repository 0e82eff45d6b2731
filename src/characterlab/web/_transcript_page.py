"""A shared transcript: the JSON document of a chat (or of a side-by-side group) and its self-contained page.

A shared page travels: it is sent to people, posted, screenshotted. So it carries only what the conversation
needs to be read (the turns, the character's name and a few lines about them, the model, a handful of settings)
and never what could hurt its author: API keys are scrubbed from every text, the home folder becomes ``~``, a
model loaded from a local folder is named by the folder's last part only, and settings outside an allow-list
are left out.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from characterlab.characters import Character, substitute_macros
from characterlab.store import ChatRecord
from characterlab.web._pages import environment

__all__ = [
    "SHARED_SETTINGS",
    "TRANSCRIPT_SCHEMA",
    "compare_document",
    "public_model_name",
    "render_transcript_page",
    "scrub_text",
    "transcript_document",
]

TRANSCRIPT_SCHEMA = "characterlab/transcript@1"

SHARED_SETTINGS = (
    "temperature",
    "max_tokens",
    "frame",
    "user_name",
    "seed",
    "steering_file",
    "steering_alpha",
    "steering_positions",
    "watch_file",
)
"""The only settings a shared transcript shows; anything else a chat keeps (keys, steering, paths) stays home."""

REDACTED = "[redacted key]"

_KEY_PATTERNS = re.compile(
    "|".join(
        (
            r"sk-ant-[A-Za-z0-9_-]{16,}",  # Anthropic
            r"sk-[A-Za-z0-9_-]{16,}",  # OpenAI and the many services that copied its format
            r"AIza[0-9A-Za-z_-]{30,}",  # Google
            r"hf_[A-Za-z0-9]{20,}",  # Hugging Face
            r"gh[pousr]_[A-Za-z0-9]{30,}",  # GitHub
            r"xox[abprs]-[A-Za-z0-9-]{10,}",  # Slack
            r"AKIA[0-9A-Z]{16}",  # AWS access key id
        )
    )
)

_PATH_START = re.compile(r"(?:/|\./|\.\./|~|[A-Za-z]:[\\/]|\.\\|\\\\)")


def scrub_text(text: str) -> str:
    """``text`` with API keys replaced by ``[redacted key]`` and the user's home folder by ``~``.

    Args:
        text: Any text bound for a shared page.
    """
    text = _KEY_PATTERNS.sub(REDACTED, text)
    home = _home()
    # Only the folder itself: "/home/al" must not turn "/home/alice" into "~ice".
    return re.sub(re.escape(home) + r"(?![A-Za-z0-9_.-])", "~", text) if home else text


def _home() -> str | None:
    home = str(Path.home())
    # A home of "/" (some containers) would turn every slash into "~": only a real folder is worth hiding.
    return home if home.strip("/\\") else None


def public_model_name(model: str) -> str:
    """The Inspect model name as a shared page shows it: a local folder is reduced to its last part.

    ``characterlab//home/alice/models/x`` and ``characterlab/./x`` become ``characterlab/x``; names that are
    not paths (``openai/gpt-4o-mini``, ``hf/org/repo``) are kept.

    Args:
        model: The model name a chat was made with.
    """
    provider, slash, rest = model.partition("/")
    if not slash:
        return scrub_text(_last_part(model)) if _PATH_START.match(model) else scrub_text(model)
    if not provider or _PATH_START.match(model):
        # The whole name is a path (no provider before it).
        return scrub_text(_last_part(model))
    home = _home()
    if _PATH_START.match(rest) or "\\" in rest or (home is not None and home in rest):
        return scrub_text(f"{provider}/{_last_part(rest)}")
    return scrub_text(model)


def _last_part(path: str) -> str:
    parts = [part for part in re.split(r"[\\/]+", path) if part not in ("", ".", "..", "~")]
    return parts[-1] if parts else "model"


def _scrubbed(value: Any) -> Any:
    """Every string inside ``value`` (nested lists and dicts too) scrubbed."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {scrub_text(str(key)): _scrubbed(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(item) for item in value]
    return value


def _shared_settings(settings: dict[str, Any]) -> dict[str, Any]:
    # Plain values only: a nested structure under an allowed name could still smuggle anything.
    shared = {
        name: settings[name]
        for name in SHARED_SETTINGS
        if name in settings and (settings[name] is None or isinstance(settings[name], str | int | float | bool))
    }
    if not shared.get("steering_file"):
        # A chat that does not steer shows no steering settings (the form saves their defaults anyway).
        shared = {name: value for name, value in shared.items() if not name.startswith("steering_")}
    return shared


def transcript_document(chat: ChatRecord, character: Character | None) -> dict[str, Any]:
    """The JSON document of a shared chat (schema ``characterlab/transcript@1``).

    Args:
        chat: The chat with its messages.
        character: Its character, if it has one (only name, summary, voice and greeting are shared).

    Returns:
        ``schema``, ``title``, ``kind``, ``model``, ``settings``, ``character`` (or ``None``), ``messages``
        (``speaker``, ``role``, ``content``: the chosen reply, ``swipes``: how many replies there were) and
        ``created`` (ISO 8601), every text scrubbed of keys and the home folder. A dialogue adds ``opener`` and
        ``participants`` (``name``, ``model``).
    """
    settings = _shared_settings(chat.settings)
    user = str(settings.get("user_name") or "User")
    shared_character: dict[str, str] | None = None
    if character is not None:
        # Macros are filled in as a reader would see them in the chat, not as the file stores them.
        shared_character = {
            field: substitute_macros(text, char=character.display_name, user=user).strip()
            for field, text in (
                ("name", character.name),
                ("summary", character.summary),
                ("voice", character.voice),
                ("greeting", character.greeting),
            )
        }
    document: dict[str, Any] = {
        "schema": TRANSCRIPT_SCHEMA,
        "title": chat.title or (character.name if character else "") or "Untitled chat",
        "kind": chat.kind,
        "model": public_model_name(chat.model),
        "settings": settings,
        "character": shared_character,
        "messages": [
            {
                "speaker": message.speaker or message.role,
                "role": message.role,
                "content": message.content,
                "swipes": len(message.swipes),
            }
            for message in chat.messages
        ],
        "created": chat.created_at.isoformat(),
    }
    if chat.kind == "dialogue":
        # What set the two talking belongs on the page: the opening message and who spoke on which model.
        document["opener"] = str(chat.settings.get("opener") or "")
        document["participants"] = [
            {"name": str(speaker.get("name", "")), "model": public_model_name(str(speaker.get("model", "")))}
            for speaker in chat.settings.get("participants", [])
            if isinstance(speaker, dict)
        ]
    scrubbed: dict[str, Any] = _scrubbed(document)
    return scrubbed


def compare_document(columns: list[dict[str, Any]], title: str | None = None) -> dict[str, Any]:
    """The JSON document of chats shared side by side: one ``transcript_document`` per column.

    Args:
        columns: The per-chat documents, in the order the columns are shown.
        title: The page's title; by default the columns' titles and models.
    """
    if title is None:
        title = "Side by side: " + " · ".join(f"{column['title']} on {column['model']}" for column in columns)
    created = min((str(column["created"]) for column in columns), default="")
    document: dict[str, Any] = {
        "schema": TRANSCRIPT_SCHEMA,
        "title": title,
        "kind": "chat",
        "created": created,
        "columns": columns,
    }
    scrubbed: dict[str, Any] = _scrubbed(document)
    return scrubbed


def render_transcript_page(document: dict[str, Any]) -> str:
    """The self-contained HTML page of a shared document (its own styles, no scripts, nothing fetched).

    Every text is escaped by the template and scrubbed again here, so a document built elsewhere is safe too.

    Args:
        document: A ``transcript_document`` or a ``compare_document``.
    """
    safe: dict[str, Any] = _scrubbed(document)
    columns = safe.get("columns")
    if not isinstance(columns, list):
        columns = None
    return environment().get_template("transcript_page.html").render(document=safe, columns=columns)
