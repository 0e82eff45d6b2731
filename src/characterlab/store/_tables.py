"""The database tables, as SQLAlchemy declarative classes.

The migrations in ``migrations/versions`` create exactly these tables; a test compares the two, so a column added
here without a migration fails the suite. Times are stored as timezone-aware UTC; JSON columns hold settings and
provenance that the lab reads back whole and never queries inside.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = ["Base", "CharacterRow", "ChatRow", "MessageRow", "RunRow", "SharedRow"]


def _now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """The declarative base of every characterlab table."""


class CharacterRow(Base):
    """A character as the lab keeps it: its YAML text is the truth, the name is a copy for listing."""

    __tablename__ = "characters"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    yaml: Mapped[str] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)


class ChatRow(Base):
    """A conversation: a chat with a character, one column of a side-by-side, or a model–model dialogue."""

    __tablename__ = "chats"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="chat")
    title: Mapped[str] = mapped_column(String(200), default="")
    character_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("characters.id", ondelete="SET NULL"), nullable=True
    )
    model: Mapped[str] = mapped_column(String(300))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    group_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)

    messages: Mapped[list[MessageRow]] = relationship(
        back_populates="chat", order_by="MessageRow.position", cascade="all, delete-orphan"
    )


class MessageRow(Base):
    """One turn; an assistant turn keeps every reply generated for it (its swipes) and which one is shown."""

    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("chat_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chat_id: Mapped[str] = mapped_column(String(64), ForeignKey("chats.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(20))
    speaker: Mapped[str] = mapped_column(String(200), default="")
    swipes: Mapped[list[str]] = mapped_column(JSON, default=list)
    chosen: Mapped[int] = mapped_column(Integer, default=0)
    prompt: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)

    chat: Mapped[ChatRow] = relationship(back_populates="messages")


class SharedRow(Base):
    """A shared transcript: the page and the JSON exactly as published (later edits of the chat don't change it)."""

    __tablename__ = "shared"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    html: Mapped[str] = mapped_column(Text)
    json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class RunRow(Base):
    """A study run found on disk: one Inspect log file, indexed so the lab lists runs without reading them all."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    location: Mapped[str] = mapped_column(Text, unique=True)
    task: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20))
    samples: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    report: Mapped[str | None] = mapped_column(Text, nullable=True)
    indexed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)
