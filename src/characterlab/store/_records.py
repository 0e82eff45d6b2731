"""What the store hands out: plain Pydantic records, detached from the database session that read them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = ["CharacterRecord", "ChatKind", "ChatRecord", "MessageRecord", "Role", "RunRecord", "SharedRecord"]

ChatKind = Literal["chat", "dialogue"]
"""A chat with one character (alone, or as one column of a side-by-side), or a model–model dialogue."""

Role = Literal["user", "assistant", "system"]
"""Who wrote a message, from the chat's side: the person (``user``) or the model (``assistant``)."""


def _in_utc(moment: datetime) -> datetime:
    # SQLite keeps no time zone and reads back the UTC times the store wrote as naive ones.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


Utc = Annotated[datetime, AfterValidator(_in_utc)]
"""A time in UTC, whichever database it was read from."""


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)


class CharacterRecord(_Record):
    """A stored character."""

    id: str
    """Its id in the lab (letters, digits, ``-`` and ``_``)."""
    name: str
    """The character's name, copied from its YAML for listing."""
    yaml: str
    """The character file's text, exactly as saved (comments and order kept)."""
    origin: str
    """Where it came from: ``created``, ``file: NAME`` or ``card: NAME``."""
    created_at: Utc
    updated_at: Utc


class MessageRecord(_Record):
    """One turn of a chat or dialogue."""

    position: int
    """0-based place in the conversation."""
    role: Role
    speaker: str
    """Who spoke, by name (the character's, the user's, or a dialogue participant's)."""
    swipes: list[str]
    """Every reply generated for this turn (one for a user turn); ``chosen`` is the one shown and continued."""
    chosen: int
    prompt: list[dict[str, Any]] | None
    """The messages the model received for this reply (role and content), when a model wrote it."""
    meta: dict[str, Any] = Field(default_factory=dict)
    """Generation details: model, settings, timing, an error that cut the reply short."""
    created_at: Utc

    @property
    def content(self) -> str:
        """The text shown: the chosen swipe."""
        return self.swipes[self.chosen]


class ChatRecord(_Record):
    """A conversation with its messages in order."""

    id: str
    kind: ChatKind
    title: str
    character_id: str | None
    model: str
    """The Inspect model name (for a dialogue, the first participant's; each participant's is in ``settings``)."""
    settings: dict[str, Any]
    """Temperature, max tokens, frame, steering and (for dialogues) participants."""
    group_id: str | None
    """Chats compared side by side share a group."""
    created_at: Utc
    updated_at: Utc
    messages: list[MessageRecord] = Field(default_factory=list)

    def with_turn(self, message: MessageRecord) -> ChatRecord:
        """This conversation as it reads once ``message`` is its turn at ``message.position`` (later turns gone).

        What a request knows the database now holds after it stored that turn, without reading it back.
        """
        return self.model_copy(update={"messages": [*self.messages[: message.position], message]})


class SharedRecord(_Record):
    """A published transcript, listed in the gallery (its page and JSON are read with ``shared_page``)."""

    id: str
    kind: ChatKind
    title: str
    created_at: Utc


class RunRecord(_Record):
    """A study run indexed from an Inspect log file."""

    id: str
    location: str
    """The log file."""
    task: str
    model: str
    status: str
    samples: int
    started_at: Utc | None
    report: str | None
    """An HTML report found beside the log, if any."""
