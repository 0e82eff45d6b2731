"""``characterlab serve``: the web lab on this machine (127.0.0.1:8765), opened in the browser."""

from __future__ import annotations

import secrets
import threading
import webbrowser
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from characterlab.cli._console import console

__all__ = ["serve"]


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on; anything but loopback needs --token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8765,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="A SQLAlchemy database URL (default: SQLite in your data folder; "
            "postgresql+psycopg://user@host/characterlab for a lab server).",
        ),
    ] = None,
    token: Annotated[
        str | None, typer.Option(help="Access token every request must carry; 'auto' makes one and prints it.")
    ] = None,
    runs: Annotated[
        list[Path] | None, typer.Option("--runs", help="A folder of study runs to list (repeatable).")
    ] = None,
    vectors: Annotated[
        list[Path] | None,
        typer.Option("--vectors", help="A folder of steering files (.safetensors) offered in chats (repeatable)."),
    ] = None,
    model: Annotated[str, typer.Option(help="The model preselected for new chats.")] = "characterlab/default",
    allow_host: Annotated[
        list[str] | None, typer.Option("--allow-host", help="Another host name the lab answers to (repeatable).")
    ] = None,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Do not open a browser.")] = False,
) -> None:
    """Serve the web lab: characters, chats, side by side, dialogues, runs and shared transcripts."""
    import uvicorn

    from characterlab.store import Store
    from characterlab.web import LabSettings, create_app

    access = secrets.token_urlsafe(24) if token == "auto" else token
    settings = LabSettings(
        store=Store(db),
        host=host,
        port=port,
        token=access,
        runs=list(runs or [Path("runs"), Path("logs"), Path("out/demo/runs")]),
        vectors=list(vectors or [Path("vectors"), Path("out/vectors")]),
        default_model=model,
        allowed_hosts=list(allow_host or []),
    )
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    address = f"http://{shown_host}:{port}/" + (f"?token={access}" if access else "")
    console.print(f"characterlab lab at [bold]{escape(address)}[/] (database {escape(settings.store.url)})")
    if not no_browser:
        threading.Timer(1.0, webbrowser.open, args=(address,)).start()
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
