"""Alembic's environment for characterlab's database: migrations run on the connection the store hands over."""

from __future__ import annotations

from alembic import context

from characterlab.store._tables import Base

target_metadata = Base.metadata


def _run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "characterlab's migrations run through characterlab.store.upgrade_database, not bare alembic"
        )
    # SQLite alters tables by copying them; batch mode makes Alembic do that where a plain ALTER would fail.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


_run()
