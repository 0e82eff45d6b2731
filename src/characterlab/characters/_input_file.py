"""Reading a file a user named, with the same messages for every kind of file when it cannot be read."""

from __future__ import annotations

from pathlib import Path

from characterlab.errors import CardError, CharacterFileError

__all__ = ["read_input_file"]


def read_input_file(path: Path, *, error: type[CharacterFileError | CardError], kind: str) -> bytes:
    """Read the bytes of a user's file.

    Args:
        path: The file.
        error: The error type to raise, named for the kind of file.
        kind: What the file should be, for the message (``a character file``, ``a card file``).

    Raises:
        CharacterFileError | CardError: (the ``error`` type) if the file is missing, a folder, or unreadable.
    """
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise error.single(path, "no such file") from None
    except IsADirectoryError:
        raise error.single(path, f"expected {kind}, got a folder") from None
    except OSError as problem:
        raise error.single(path, f"cannot read the file ({problem.strerror or problem})") from None
