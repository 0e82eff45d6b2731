"""Server-sent events: how a reply streams to the browser while it is being written."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["SSE_HEADERS", "sse"]

SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
"""No caching, and no buffering by a proxy in front of a lab server (nginx's header), so drafts arrive at once."""


def sse(event: str, data: dict[str, Any]) -> str:
    """One event in the ``text/event-stream`` format; the data is JSON (the page reads it as text, never HTML)."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
