"""The ``characterlab`` command line."""

from characterlab.cli._app import app, main

__all__ = ["app", "main"]
