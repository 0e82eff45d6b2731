"""The lab's database: characters, chats and their messages, shared transcripts, and an index of study runs.

SQLite in the user's data folder by default; any SQLAlchemy URL works (PostgreSQL for a lab server shared by a
team: ``postgresql+psycopg://user@host/characterlab``, with the driver installed). Opening a store brings its
schema up to date with the Alembic migrations shipped in this package, so an old database keeps its contents.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import platformdirs
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, defer, sessionmaker

from characterlab.errors import CharacterlabError
from characterlab.store._records import (
    CharacterRecord,
    ChatKind,
    ChatRecord,
    MessageRecord,
    Role,
    RunRecord,
    SharedRecord,
)
from characterlab.store._tables import CharacterRow, ChatRow, MessageRow, RunRow, SharedRow

__all__ = ["ID_PATTERN", "NotFoundError", "Store", "default_database_url", "new_id", "upgrade_database"]

ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""Every id the store hands out or accepts: safe in a URL and in a file name, never a path."""

_MIGRATIONS = Path(__file__).parent / "migrations"

_TURN_FIELDS = tuple(field for field in MessageRecord.model_fields if field not in ("prompt", "meta"))
"""What a message record holds besides its prompt and metadata (``Store.chat(..., turns_only=True)``)."""


class NotFoundError(CharacterlabError):
    """No character, chat, message or shared item with that id."""


def default_database_url() -> str:
    """``sqlite:///`` + ``characterlab.db`` in the user's data folder (``$CHARACTERLAB_DATA`` overrides it)."""
    import os

    folder = os.environ.get("CHARACTERLAB_DATA")
    base = Path(folder).expanduser() if folder else Path(platformdirs.user_data_dir("characterlab"))
    return f"sqlite:///{base / 'characterlab.db'}"


def new_id(length: int = 12) -> str:
    """A fresh random id (URL-safe; 12 bytes of randomness by default, so ids cannot be guessed)."""
    return secrets.token_urlsafe(length)


def upgrade_database(engine: Engine) -> None:
    """Bring the database's schema up to the newest migration (creating it when empty)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class Store:
    """The lab's database.

    Args:
        url: A SQLAlchemy URL; ``None`` for :func:`default_database_url`. A SQLite file's folder is created.
        migrate: Bring the schema up to date on opening (leave on unless a test builds the schema itself).

    Raises:
        CharacterlabError: the URL cannot be parsed, or its driver is not installed.
    """

    def __init__(self, url: str | None = None, *, migrate: bool = True) -> None:
        self.url = url or default_database_url()
        try:
            parsed = sa.make_url(self.url)
        except sa.exc.ArgumentError as error:
            raise CharacterlabError(f"not a database URL: {self.url!r} ({error})") from error
        sqlite = parsed.get_backend_name() == "sqlite"
        if sqlite and parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # The web app serves requests from several threads; each takes its own connection from the pool.
        connect_args = {"check_same_thread": False} if sqlite else {}
        try:
            self.engine = sa.create_engine(parsed, connect_args=connect_args)
        except ModuleNotFoundError as error:
            raise CharacterlabError(f"the database driver for {parsed.drivername} is not installed: {error}") from error
        if sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        if migrate:
            upgrade_database(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    # --- characters -------------------------------------------------------------------------------------------

    def characters(self) -> list[CharacterRecord]:
        """Every character, by name."""
        with self._session() as session:
            rows = session.scalars(sa.select(CharacterRow).order_by(sa.func.lower(CharacterRow.name)))
            return [CharacterRecord.model_validate(row) for row in rows]

    def character(self, character_id: str) -> CharacterRecord:
        """The character with this id.

        Raises:
            NotFoundError: there is none.
        """
        with self._session() as session:
            return CharacterRecord.model_validate(_get(session, CharacterRow, character_id, "character"))

    def save_character(self, name: str, yaml: str, *, origin: str, character_id: str | None = None) -> CharacterRecord:
        """Add a character (``character_id`` None) or replace the text of an existing one; return it as stored."""
        with self._session() as session:
            if character_id is None:
                row = CharacterRow(id=new_id(), name=name, yaml=yaml, origin=origin)
                session.add(row)
            else:
                row = _get(session, CharacterRow, character_id, "character")
                row.name, row.yaml = name, yaml
            session.flush()
            return CharacterRecord.model_validate(row)

    def delete_character(self, character_id: str) -> None:
        """Remove a character; its chats stay, without it."""
        with self._session() as session:
            session.delete(_get(session, CharacterRow, character_id, "character"))

    # --- chats and messages -----------------------------------------------------------------------------------

    def create_chat(
        self,
        *,
        model: str,
        kind: ChatKind = "chat",
        title: str = "",
        character_id: str | None = None,
        settings: dict[str, Any] | None = None,
        group_id: str | None = None,
    ) -> ChatRecord:
        """Start an empty conversation."""
        with self._session() as session:
            if character_id is not None:
                _get(session, CharacterRow, character_id, "character")
            row = ChatRow(
                id=new_id(),
                kind=kind,
                title=title,
                character_id=character_id,
                model=model,
                settings=dict(settings or {}),
                group_id=group_id,
            )
            session.add(row)
            session.flush()
            return _chat_record(row, [])

    def chat(self, chat_id: str, *, turns_only: bool = False) -> ChatRecord:
        """A conversation with its messages.

        Args:
            chat_id: The conversation's id.
            turns_only: Read only what was said (every message's ``prompt`` None and ``meta`` empty). Writing the
                next reply needs no more, and a reply's prompt and metadata (the text the model read) each repeat
                the history before it: in a long chat they are most of the read (200 turns: tens of ms, against
                a few without).

        Raises:
            NotFoundError: there is none.
        """
        with self._session() as session:
            row = _get(session, ChatRow, chat_id, "chat")
            if not turns_only:
                return _chat_record(row, row.messages)
            query = (
                sa.select(MessageRow)
                .options(defer(MessageRow.prompt), defer(MessageRow.meta))
                .where(MessageRow.chat_id == chat_id)
                .order_by(MessageRow.position)
            )
            said: dict[str, Any] = {"prompt": None, "meta": {}}
            turns = [
                MessageRecord.model_validate({field: getattr(message, field) for field in _TURN_FIELDS} | said)
                for message in session.scalars(query)
            ]
            return _chat_record(row, []).model_copy(update={"messages": turns})

    def chats(self, *, kind: ChatKind | None = None, group_id: str | None = None) -> list[ChatRecord]:
        """Conversations, last active first (a group: in the order made), without their messages (see ``chat()``)."""
        with self._session() as session:
            # A side-by-side group keeps its columns in the order they were made.
            order = ChatRow.created_at if group_id is not None else ChatRow.updated_at.desc()
            query = sa.select(ChatRow).order_by(order)
            if kind is not None:
                query = query.where(ChatRow.kind == kind)
            if group_id is not None:
                query = query.where(ChatRow.group_id == group_id)
            return [_chat_record(row, []) for row in session.scalars(query)]

    def update_chat(self, chat_id: str, *, settings: dict[str, Any] | None = None, title: str | None = None) -> None:
        """Change a conversation's settings (merged into the old ones) or title."""
        with self._session() as session:
            row = _get(session, ChatRow, chat_id, "chat")
            if settings is not None:
                row.settings = {**row.settings, **settings}
            if title is not None:
                row.title = title

    def delete_chat(self, chat_id: str) -> None:
        """Remove a conversation and its messages."""
        with self._session() as session:
            session.delete(_get(session, ChatRow, chat_id, "chat"))

    def add_message(
        self,
        chat_id: str,
        role: Role,
        content: str,
        *,
        speaker: str = "",
        prompt: Sequence[dict[str, Any]] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> MessageRecord:
        """Append a turn at the end of a conversation."""
        with self._session() as session:
            # Two statements, not the chat's every message loaded: this runs on each turn, in a reply's time to
            # its first token, and a chat's turns keep their whole prompts.
            touched = sa.update(ChatRow).where(ChatRow.id == chat_id).values(updated_at=datetime.now(UTC))
            if not ID_PATTERN.fullmatch(chat_id) or session.connection().execute(touched).rowcount == 0:
                raise NotFoundError(f"no chat with id {chat_id[:80]!r}")
            last = session.scalar(sa.select(sa.func.max(MessageRow.position)).where(MessageRow.chat_id == chat_id))
            position = 0 if last is None else last + 1
            row = MessageRow(
                chat_id=chat_id,
                position=position,
                role=role,
                speaker=speaker,
                swipes=[content],
                chosen=0,
                prompt=list(prompt) if prompt is not None else None,
                meta=dict(meta or {}),
            )
            session.add(row)
            session.flush()
            return MessageRecord.model_validate(row)

    def add_swipe(
        self,
        chat_id: str,
        position: int,
        content: str,
        *,
        prompt: Sequence[dict[str, Any]] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> MessageRecord:
        """Keep another reply for an assistant turn and show it (regenerate); the earlier replies stay."""
        with self._session() as session:
            row = self._message_row(session, chat_id, position)
            row.swipes = [*row.swipes, content]
            row.chosen = len(row.swipes) - 1
            if prompt is not None:
                row.prompt = list(prompt)
            if meta is not None:
                row.meta = dict(meta)
            session.flush()
            return MessageRecord.model_validate(row)

    def choose_swipe(self, chat_id: str, position: int, index: int) -> MessageRecord:
        """Show another of a turn's replies.

        Raises:
            NotFoundError: no such turn or reply.
        """
        with self._session() as session:
            row = self._message_row(session, chat_id, position)
            if not 0 <= index < len(row.swipes):
                raise NotFoundError(f"turn {position} of chat {chat_id} has {len(row.swipes)} replies, not {index + 1}")
            row.chosen = index
            session.flush()
            return MessageRecord.model_validate(row)

    def edit_message(self, chat_id: str, position: int, content: str) -> MessageRecord:
        """Replace the shown text of a turn (the user's correction of their own or the model's words)."""
        with self._session() as session:
            row = self._message_row(session, chat_id, position)
            swipes = list(row.swipes)
            swipes[row.chosen] = content
            row.swipes = swipes
            session.flush()
            return MessageRecord.model_validate(row)

    def truncate(self, chat_id: str, position: int) -> None:
        """Delete the turn at ``position`` and every turn after it."""
        with self._session() as session:
            chat = _get(session, ChatRow, chat_id, "chat")
            for row in [row for row in chat.messages if row.position >= position]:
                chat.messages.remove(row)

    @staticmethod
    def _message_row(session: Session, chat_id: str, position: int) -> MessageRow:
        row = session.scalar(
            sa.select(MessageRow).where(MessageRow.chat_id == chat_id, MessageRow.position == position)
        )
        if row is None:
            raise NotFoundError(f"chat {chat_id} has no turn {position}")
        return row

    # --- shared transcripts -----------------------------------------------------------------------------------

    def share(self, kind: ChatKind, title: str, html: str, json: str) -> SharedRecord:
        """Publish a page and its JSON under a new id that cannot be guessed."""
        with self._session() as session:
            row = SharedRow(id=new_id(), kind=kind, title=title, html=html, json=json)
            session.add(row)
            session.flush()
            return SharedRecord.model_validate(row)

    def shared(self) -> list[SharedRecord]:
        """Every shared item, newest first."""
        with self._session() as session:
            query = sa.select(SharedRow).order_by(SharedRow.created_at.desc())
            return [SharedRecord.model_validate(row) for row in session.scalars(query)]

    def shared_page(self, shared_id: str) -> tuple[SharedRecord, str, str]:
        """A shared item with its HTML page and JSON text.

        Raises:
            NotFoundError: there is none.
        """
        with self._session() as session:
            row = _get(session, SharedRow, shared_id, "shared item")
            return SharedRecord.model_validate(row), row.html, row.json

    # --- runs index -------------------------------------------------------------------------------------------

    def index_run(
        self,
        location: str,
        *,
        task: str,
        model: str,
        status: str,
        samples: int,
        started_at: datetime | None,
        report: str | None,
    ) -> RunRecord:
        """Add a run to the index, or refresh its entry (a run that was going on may have finished since)."""
        with self._session() as session:
            row = session.scalar(sa.select(RunRow).where(RunRow.location == location))
            if row is None:
                row = RunRow(id=new_id(), location=location)
                session.add(row)
            row.task, row.model, row.status, row.samples = task, model, status, samples
            row.started_at, row.report = started_at, report
            session.flush()
            return RunRecord.model_validate(row)

    def forget_runs(self, run_ids: Iterable[str]) -> None:
        """Take runs out of the index (their logs are gone); the files themselves are never touched."""
        ids = [run_id for run_id in run_ids if ID_PATTERN.fullmatch(run_id)]
        if ids:
            with self._session() as session:
                session.execute(sa.delete(RunRow).where(RunRow.id.in_(ids)))

    def runs(self) -> list[RunRecord]:
        """Indexed runs, newest first."""
        with self._session() as session:
            query = sa.select(RunRow).order_by(RunRow.started_at.desc().nulls_last(), RunRow.task)
            return [RunRecord.model_validate(row) for row in session.scalars(query)]

    def run(self, run_id: str) -> RunRecord:
        """An indexed run.

        Raises:
            NotFoundError: there is none.
        """
        with self._session() as session:
            return RunRecord.model_validate(_get(session, RunRow, run_id, "run"))


def _get(session: Session, table: type[Any], row_id: str, what: str) -> Any:
    # A malformed id is "not found", never a query: nothing a URL carries reaches the database unchecked.
    row = session.get(table, row_id) if ID_PATTERN.fullmatch(row_id) else None
    if row is None:
        raise NotFoundError(f"no {what} with id {row_id[:80]!r}")
    return row


def _chat_record(row: ChatRow, messages: Sequence[MessageRow]) -> ChatRecord:
    return ChatRecord(
        id=row.id,
        kind=row.kind,
        title=row.title,
        character_id=row.character_id,
        model=row.model,
        settings=dict(row.settings),
        group_id=row.group_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        messages=[MessageRecord.model_validate(message) for message in messages],
    )


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    """Foreign keys on (SQLite leaves them off), and write-ahead logging so readers never wait on a writer.

    With write-ahead logging, ``synchronous=NORMAL`` syncs the log at checkpoints rather than at every commit (a
    chat commits on each turn): a killed or crashed lab still loses nothing committed; only a power cut can take
    back the last few turns.
    """
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
