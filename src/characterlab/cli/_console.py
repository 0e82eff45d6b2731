"""The consoles the CLI writes to: results on stdout, messages and errors on stderr."""

from rich.console import Console

__all__ = ["console", "err_console"]

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)
