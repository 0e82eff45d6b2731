"""The ``characterlab`` command line: one module per command group."""

from characterlab.cli._app import app, main

__all__ = ["app", "main"]
