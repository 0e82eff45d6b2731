"""The lab in a real browser: Debian's chromium driven by Playwright against a live server on a tiny model.

Screenshots land in ``$CHARACTERLAB_SCREENSHOTS`` (default ``test-artifacts/screenshots``) for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from characterlab.characters import Character, card_png_bytes
from characterlab.store import Store
from characterlab.web import LabSettings, create_app

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("CHARACTERLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(os.environ.get("CHARACTERLAB_SCREENSHOTS", "test-artifacts/screenshots"))
HOSTILE = [
    "<script>window.__pwned = 1</script>",
    '<img src=x onerror="window.__pwned = 2">',
    "[click me](javascript:window.__pwned=3)",
    "![img](javascript:window.__pwned=4)",
    '"><svg onload="window.__pwned=5">',
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists():
        if os.environ.get("CHARACTERLAB_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Store]]:
    import uvicorn

    folder = tmp_path_factory.mktemp("lab")
    store = Store(f"sqlite:///{folder / 'lab.db'}")
    vectors = folder / "vectors"
    vectors.mkdir()
    # A steering file for the tiny models (64 wide) to offer in chats.
    save_file(
        {"layer.1": 8 * torch.randn(64, generator=torch.Generator().manual_seed(5))},
        str(vectors / "curious.safetensors"),
    )
    settings = LabSettings(store=store, max_upload_bytes=64 * 1024, vectors=[vectors])
    port = _free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the lab server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", store
    running.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def page(browser: object, server: tuple[str, Store]) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on("dialog", lambda dialog: dialog.accept())
    yield opened
    context.close()
    assert errors == [], f"script errors on the page: {errors}"


def _shot(page: object, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def _card(tmp_path: Path, name: str = "Wren", summary: str = "A lighthouse keeper who talks about the sea.") -> Path:
    character = Character(name=name, summary=summary, greeting="Ahoy, {{user}}! The lamp is lit.")
    path = tmp_path / f"{name.lower()}.png"
    path.write_bytes(card_png_bytes(character))
    return path


def _start_chat(page: object, base: str, model: str, character: str | None) -> None:
    page.goto(f"{base}/chats")  # type: ignore[attr-defined]
    if character is not None:
        page.select_option("select[name=character_id]", label=character)  # type: ignore[attr-defined]
    page.fill("input[name=model]", model)  # type: ignore[attr-defined]
    page.fill("input[name=max_tokens]", "8")  # type: ignore[attr-defined]
    page.click("#new-chat button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_selector("#composer")  # type: ignore[attr-defined]


def test_import_a_card_and_chat_with_it_on_a_tiny_model(
    page: object, server: tuple[str, Store], tiny_llama: Path, tmp_path: Path
) -> None:
    base, store = server
    page.goto(f"{base}/characters")  # type: ignore[attr-defined]
    page.set_input_files("#import input[type=file]", str(_card(tmp_path)))  # type: ignore[attr-defined]
    page.click("#import button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_selector("text=A lighthouse keeper")  # type: ignore[attr-defined]
    _start_chat(page, base, f"characterlab/{tiny_llama}", "Wren")
    page.wait_for_selector(".msg.assistant >> text=Ahoy, User!")  # type: ignore[attr-defined]
    page.fill("#composer textarea", "Tell me about the sea.")  # type: ignore[attr-defined]
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    page.wait_for_selector('.msg.assistant[data-position="2"]')  # type: ignore[attr-defined]
    page.wait_for_selector('.msg.user[data-position="1"]')  # type: ignore[attr-defined]
    [chat] = store.chats(kind="chat")
    stored = store.chat(chat.id).messages
    assert [m.role for m in stored] == ["assistant", "user", "assistant"]
    shown = page.inner_text('.msg.assistant[data-position="2"] .msg-body')  # type: ignore[attr-defined]
    # A tiny random model can emit U+0000, which HTML parsing drops: the page cannot show it.
    assert shown == stored[2].content.replace("\x00", "")
    page.check("#show-prompts")  # type: ignore[attr-defined]
    assert page.is_visible('.msg[data-position="2"] details.prompt')  # type: ignore[attr-defined]
    _shot(page, "chat")


def test_steer_a_chat_from_its_settings(page: object, server: tuple[str, Store], tiny_llama: Path) -> None:
    base, store = server
    _start_chat(page, base, f"characterlab/{tiny_llama}", None)
    page.select_option("select[name=steering_file]", "curious")  # type: ignore[attr-defined]
    page.fill("input[name=steering_alpha]", "2.5")  # type: ignore[attr-defined]
    page.select_option("select[name=steering_positions]", "generated")  # type: ignore[attr-defined]
    page.click("#settings button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_selector("#settings .saved:not([hidden])")  # type: ignore[attr-defined]
    settings = store.chat(page.url.rsplit("/", 1)[1]).settings  # type: ignore[attr-defined]
    assert (settings["steering_file"], settings["steering_alpha"], settings["steering_positions"]) == (
        "curious",
        2.5,
        "generated",
    )
    page.fill("#composer textarea", "Hello")  # type: ignore[attr-defined]
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    page.wait_for_selector('.msg.assistant[data-position="1"] >> text=steered by curious × 2.5')  # type: ignore[attr-defined]
    _shot(page, "chat-steered")


def test_hostile_text_never_runs_anywhere(
    page: object, server: tuple[str, Store], tiny_llama: Path, tmp_path: Path
) -> None:
    base, store = server
    hostile = "\n".join(HOSTILE)
    character = store.save_character(
        HOSTILE[1], f"schema: characterlab/character@1\nname: Mallory\nsummary: {HOSTILE[0]!r}\n", origin="created"
    )
    chat = store.create_chat(model=f"characterlab/{tiny_llama}", character_id=character.id, title=HOSTILE[4])
    store.add_message(chat.id, "user", hostile, speaker=HOSTILE[1])
    store.add_message(chat.id, "assistant", hostile, speaker="Mallory", prompt=[{"role": "user", "content": hostile}])
    for path in ("/", "/chats", f"/chats/{chat.id}", "/characters", f"/characters/{character.id}"):
        page.goto(base + path)  # type: ignore[attr-defined]
        page.wait_for_load_state("load")  # type: ignore[attr-defined]
        assert page.evaluate("window.__pwned") is None, path  # type: ignore[attr-defined]
    page.goto(f"{base}/chats/{chat.id}")  # type: ignore[attr-defined]
    assert HOSTILE[0] in page.inner_text('.msg[data-position="0"] .msg-body')  # type: ignore[attr-defined]
    assert page.locator("a[href^='javascript:']").count() == 0  # type: ignore[attr-defined]
    page.click("#share")  # type: ignore[attr-defined]
    page.click("#shared-link")  # type: ignore[attr-defined]
    page.wait_for_load_state("load")  # type: ignore[attr-defined]
    assert page.evaluate("window.__pwned") is None  # type: ignore[attr-defined]
    assert HOSTILE[0] in page.inner_text("body")  # type: ignore[attr-defined]
    _shot(page, "hostile-shared")


def test_share_a_chat_and_open_the_shared_page(page: object, server: tuple[str, Store], tiny_llama: Path) -> None:
    base, store = server
    chat = store.create_chat(model=f"characterlab/{tiny_llama}", title="Wren")
    store.add_message(chat.id, "user", "What do you see from up there?", speaker="User")
    store.add_message(chat.id, "assistant", "Ships, mostly. And the weather coming in.", speaker="Wren")
    page.goto(f"{base}/chats/{chat.id}")  # type: ignore[attr-defined]
    page.click("#share")  # type: ignore[attr-defined]
    page.click("#shared-link")  # type: ignore[attr-defined]
    page.wait_for_selector("text=Ships, mostly.")  # type: ignore[attr-defined]
    _shot(page, "shared-page")
    page.goto(f"{base}/shared")  # type: ignore[attr-defined]
    assert page.locator("text=Wren").count() >= 1  # type: ignore[attr-defined]
    _shot(page, "gallery")


def test_side_by_side_streams_into_both_columns(page: object, server: tuple[str, Store], tiny_llama: Path) -> None:
    base, _ = server
    model = f"characterlab/{tiny_llama}"
    page.goto(f"{base}/compare")  # type: ignore[attr-defined]
    page.fill("input[name=left_model]", model)  # type: ignore[attr-defined]
    page.fill("input[name=right_model]", model)  # type: ignore[attr-defined]
    page.fill("input[name=max_tokens]", "6")  # type: ignore[attr-defined]
    page.click("#new-comparison button[type=submit]")  # type: ignore[attr-defined]
    page.fill("#compare-composer textarea", "Hello, both of you.")  # type: ignore[attr-defined]
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    for column in (0, 1):
        page.wait_for_selector(f'section[data-column="{column}"] .msg.assistant[data-position="1"]')  # type: ignore[attr-defined]
    _shot(page, "side-by-side")


def test_an_upload_that_is_too_large_is_refused_clearly(
    page: object, server: tuple[str, Store], tmp_path: Path
) -> None:
    base, store = server
    big = tmp_path / "huge.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * (200 * 1024))
    before = len(store.characters())
    page.goto(f"{base}/characters")  # type: ignore[attr-defined]
    page.set_input_files("#import input[type=file]", str(big))  # type: ignore[attr-defined]
    page.click("#import button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_load_state("load")  # type: ignore[attr-defined]
    text = page.inner_text("body")  # type: ignore[attr-defined]
    assert "accepts files up to 64.0 KiB" in text, text[:500]
    assert len(store.characters()) == before
    _shot(page, "upload-too-large")


def test_watch_two_models_talk(page: object, server: tuple[str, Store], tiny_llama: Path) -> None:
    base, _ = server
    model = f"characterlab/{tiny_llama}"
    page.goto(f"{base}/dialogues")  # type: ignore[attr-defined]
    page.fill("input[name=first_model]", model)  # type: ignore[attr-defined]
    page.fill("input[name=second_model]", model)  # type: ignore[attr-defined]
    page.fill("input[name=max_turns]", "4")  # type: ignore[attr-defined]
    page.fill("input[name=max_tokens]", "6")  # type: ignore[attr-defined]
    page.click("#new-dialogue button[type=submit]")  # type: ignore[attr-defined]
    page.click("#run-dialogue")  # type: ignore[attr-defined]
    page.wait_for_selector("#dialogue-status >> text=Finished")  # type: ignore[attr-defined]
    assert page.locator("#messages .msg").count() == 4  # type: ignore[attr-defined]
    assert page.locator("#metrics table tbody tr").count() == 4  # type: ignore[attr-defined]
    _shot(page, "dialogue")
