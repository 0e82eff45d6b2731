"""Fixtures for the web lab: an app on a fresh SQLite database, a client holding its CSRF cookie, a tiny model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from characterlab.store import Store
from characterlab.web import LabSettings, create_app
from characterlab.web._lab import Lab

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "characters"


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    """The lab on a database of its own."""
    return create_app(LabSettings(store=Store(f"sqlite:///{tmp_path / 'lab.db'}")))


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    """A browser-like client that has visited the front page (so it holds the CSRF cookie)."""
    client = TestClient(app, base_url="http://127.0.0.1:8765")
    assert client.get("/").status_code == 200
    return client


def the_lab(app: FastAPI) -> Lab:
    """The lab an app serves (its store, settings and model pool)."""
    lab = app.state.lab
    assert isinstance(lab, Lab)
    return lab


def sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """The server-sent events of a response body, as (event name, decoded data) pairs."""
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def csrf(client: TestClient) -> dict[str, str]:
    """The header the lab's script sends with every change."""
    return {"X-CSRF-Token": client.cookies["characterlab_csrf"]}
