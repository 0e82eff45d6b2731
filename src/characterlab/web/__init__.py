"""The web lab: write characters, talk to them on any model, compare, watch dialogues, browse runs, share.

``characterlab serve`` runs it on 127.0.0.1:8765; :func:`create_app` gives the ASGI app for tests and for
serving behind another server.
"""

from characterlab.web._app import create_app
from characterlab.web._settings import DEFAULT_PORT, LabSettings, is_loopback

__all__ = ["DEFAULT_PORT", "LabSettings", "create_app", "is_loopback"]
