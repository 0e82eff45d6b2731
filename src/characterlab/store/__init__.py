"""The lab's database (SQLAlchemy, Alembic migrations): characters, chats, shared transcripts, a runs index."""

from characterlab.store._records import (
    CharacterRecord,
    ChatKind,
    ChatRecord,
    MessageRecord,
    Role,
    RunRecord,
    SharedRecord,
)
from characterlab.store._store import ID_PATTERN, NotFoundError, Store, default_database_url, new_id, upgrade_database

__all__ = [
    "ID_PATTERN",
    "CharacterRecord",
    "ChatKind",
    "ChatRecord",
    "MessageRecord",
    "NotFoundError",
    "Role",
    "RunRecord",
    "SharedRecord",
    "Store",
    "default_database_url",
    "new_id",
    "upgrade_database",
]
