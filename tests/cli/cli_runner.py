"""Running the CLI in-process, as the tests do."""

from __future__ import annotations

from pathlib import Path

import pytest

from characterlab.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """Run the CLI with these arguments; return (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as stop:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return int(stop.value.code or 0), out, err
