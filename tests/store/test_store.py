"""The lab's database on a real SQLite file: migrations, characters, chats with swipes, sharing, the runs index."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from characterlab.store import NotFoundError, Store, default_database_url
from characterlab.store._tables import Base


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'lab.db'}")


def test_the_migrations_build_exactly_the_declared_tables(store: Store) -> None:
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        version = connection.execute(sa.text("select version_num from alembic_version")).scalar_one()
    assert differences == []
    assert version == "0001"


def test_reopening_keeps_everything_and_migrates_nothing_twice(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'lab.db'}"
    first = Store(url)
    saved = first.save_character("Ada", "name: Ada\n", origin="created")
    first.close()
    again = Store(url)
    assert again.character(saved.id).yaml == "name: Ada\n"


def test_characters_are_listed_by_name_and_edited_in_place(store: Store) -> None:
    zed = store.save_character("zed", "name: zed\n", origin="created")
    store.save_character("Ada", "name: Ada\n", origin="card: ada.png")
    assert [c.name for c in store.characters()] == ["Ada", "zed"]
    edited = store.save_character("Zed", "name: Zed\n", origin="ignored", character_id=zed.id)
    assert (edited.id, edited.name, edited.origin) == (zed.id, "Zed", "created")
    store.delete_character(zed.id)
    with pytest.raises(NotFoundError, match="no character"):
        store.character(zed.id)


def test_a_chat_keeps_turns_swipes_edits_and_truncation(store: Store) -> None:
    ada = store.save_character("Ada", "name: Ada\n", origin="created")
    chat = store.create_chat(model="characterlab/default", character_id=ada.id, settings={"temperature": 0.7})
    store.add_message(chat.id, "user", "Hi", speaker="User")
    prompt = [{"role": "user", "content": "Hi"}]
    store.add_message(chat.id, "assistant", "Hello!", speaker="Ada", prompt=prompt, meta={"seconds": 0.5})
    store.add_swipe(chat.id, 1, "Hey there.", prompt=prompt)
    [user, reply] = store.chat(chat.id).messages
    assert (user.content, reply.content, reply.swipes, reply.prompt) == (
        "Hi",
        "Hey there.",
        ["Hello!", "Hey there."],
        prompt,
    )
    assert store.choose_swipe(chat.id, 1, 0).content == "Hello!"
    assert store.edit_message(chat.id, 1, "Hello, friend!").swipes == ["Hello, friend!", "Hey there."]
    with pytest.raises(NotFoundError, match="has 2 replies"):
        store.choose_swipe(chat.id, 1, 2)
    store.add_message(chat.id, "user", "Bye", speaker="User")
    store.truncate(chat.id, 1)
    assert [m.content for m in store.chat(chat.id).messages] == ["Hi"]
    store.update_chat(chat.id, settings={"max_tokens": 50})
    assert store.chat(chat.id).settings == {"temperature": 0.7, "max_tokens": 50}


def test_a_turn_goes_at_the_end_and_makes_its_chat_the_last_active(store: Store) -> None:
    first, second = store.create_chat(model="a"), store.create_chat(model="b")
    for text in ("one", "two", "three"):
        store.add_message(first.id, "user", text)
    store.truncate(first.id, 1)
    added = store.add_message(first.id, "assistant", "again")
    assert added.position == 1
    assert [m.content for m in store.chat(first.id).messages] == ["one", "again"]
    assert store.chats()[0].id == first.id
    reply = store.add_message(second.id, "user", "hello")
    assert store.chats()[0].id == second.id
    # What a request knows the conversation now reads like, without reading it back, is what was stored.
    stored = store.chat(second.id)
    assert stored.model_copy(update={"updated_at": second.updated_at}) == second.with_turn(reply)
    assert stored.updated_at > second.updated_at and stored.updated_at.tzinfo is not None
    for missing in ("no-such-chat", "../etc/passwd"):
        with pytest.raises(NotFoundError, match="no chat"):
            store.add_message(missing, "user", "hi")


def test_a_chat_read_for_its_turns_leaves_out_prompts_and_metadata(store: Store) -> None:
    chat = store.create_chat(model="m")
    store.add_message(chat.id, "user", "Hi")
    prompt = [{"role": "user", "content": "Hi"}]
    store.add_message(chat.id, "assistant", "Hello!", prompt=prompt, meta={"rendered": "<s>Hi</s>"})
    store.add_swipe(chat.id, 1, "Hey.", prompt=prompt)
    whole, said = store.chat(chat.id), store.chat(chat.id, turns_only=True)
    assert whole.messages[1].prompt == prompt and whole.messages[1].meta == {"rendered": "<s>Hi</s>"}
    assert [(m.prompt, m.meta) for m in said.messages] == [(None, {}), (None, {})]
    strip = {"prompt": None, "meta": {}}
    assert said == whole.model_copy(update={"messages": [m.model_copy(update=strip) for m in whole.messages]})
    with pytest.raises(NotFoundError):
        store.chat("no-such-chat", turns_only=True)


def test_deleting_a_character_keeps_its_chats(store: Store) -> None:
    ada = store.save_character("Ada", "name: Ada\n", origin="created")
    chat = store.create_chat(model="m", character_id=ada.id)
    store.add_message(chat.id, "user", "Hi")
    store.delete_character(ada.id)
    kept = store.chat(chat.id)
    assert kept.character_id is None
    assert [m.content for m in kept.messages] == ["Hi"]
    store.delete_chat(chat.id)
    with store.engine.connect() as connection:
        assert connection.execute(sa.text("select count(*) from messages")).scalar_one() == 0


def test_side_by_side_chats_share_a_group(store: Store) -> None:
    left = store.create_chat(model="a", group_id="g1")
    right = store.create_chat(model="b", group_id="g1")
    store.create_chat(model="c")
    assert [chat.id for chat in store.chats(group_id="g1")] == [left.id, right.id]


@pytest.mark.parametrize("bad_id", ["../etc/passwd", "a/b", "", "x" * 65, "a b", "%2e%2e"])
def test_ids_that_are_not_ids_are_never_found(store: Store, bad_id: str) -> None:
    with pytest.raises(NotFoundError):
        store.chat(bad_id)
    with pytest.raises(NotFoundError):
        store.shared_page(bad_id)


def test_shared_items_are_frozen_copies_with_unguessable_ids(store: Store) -> None:
    first = store.share("chat", "A talk", "<html>one</html>", '{"a": 1}')
    second = store.share("dialogue", "Two models", "<html>two</html>", "{}")
    assert len(first.id) >= 16 and first.id != second.id
    record, html, json_text = store.shared_page(first.id)
    assert (record.title, html, json_text) == ("A talk", "<html>one</html>", '{"a": 1}')
    assert {item.id for item in store.shared()} == {first.id, second.id}


def test_the_runs_index_refreshes_an_entry_in_place(store: Store) -> None:
    first = store.index_run(
        "/runs/a.eval", task="sycophancy", model="m", status="started", samples=0, started_at=None, report=None
    )
    again = store.index_run(
        "/runs/a.eval", task="sycophancy", model="m", status="success", samples=10, started_at=None, report="r.html"
    )
    assert again.id == first.id
    assert [(run.status, run.samples) for run in store.runs()] == [("success", 10)]


def test_the_default_database_lives_in_the_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARACTERLAB_DATA", str(tmp_path / "data"))
    assert default_database_url() == f"sqlite:///{tmp_path / 'data' / 'characterlab.db'}"
    Store().close()
    assert (tmp_path / "data" / "characterlab.db").is_file()


def test_a_bad_database_url_is_a_clear_error() -> None:
    with pytest.raises(Exception, match="not a database URL"):
        Store("not a url at all")
