"""How a lab server is set up: where its database is, who may reach it, which runs it lists."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from characterlab.errors import CharacterlabError
from characterlab.store import Store

__all__ = ["DEFAULT_PORT", "LabSettings", "is_loopback"]

DEFAULT_PORT = 8765

_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) can only be reached from this machine."""
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class LabSettings:
    """A lab server's settings.

    Raises:
        CharacterlabError: a non-loopback ``host`` without an access token.
    """

    store: Store
    host: str = "127.0.0.1"
    """The address the server listens on. Anything but loopback needs ``token``."""
    port: int = DEFAULT_PORT
    token: str | None = None
    """An access token every request must carry (``?token=`` once, then a cookie; or ``Authorization: Bearer``)."""
    runs: list[Path] = field(default_factory=list)
    """Folders searched for study runs (Inspect logs) and their reports."""
    default_model: str = "characterlab/default"
    """The model preselected for a new chat."""
    models: list[str] = field(default_factory=lambda: ["characterlab/default", "characterlab/base"])
    """Models offered in the pickers (any Inspect model name can also be typed)."""
    vectors: list[Path] = field(default_factory=list)
    """Folders of steering files (safetensors of ``layer.<index>`` vectors) offered in a chat's settings."""
    max_upload_bytes: int = 8 * 1024 * 1024
    """The largest card or character file accepted."""
    allowed_hosts: list[str] = field(default_factory=list)
    """Host names the server answers to besides loopback ones and ``host`` (e.g. a lab server's DNS name)."""

    def __post_init__(self) -> None:
        if not is_loopback(self.host) and not self.token:
            raise CharacterlabError(
                f"the lab would listen on {self.host}, which other machines can reach; give it an access token "
                "(--token, or --token auto to make one), or keep it on 127.0.0.1"
            )
        if self.default_model not in self.models:
            self.models = [self.default_model, *self.models]

    def host_allowed(self, host_header: str) -> bool:
        """Whether a request's ``Host`` header names this server (refusing DNS-rebinding pages)."""
        name = host_header.rsplit(":", 1)[0] if not host_header.endswith("]") else host_header
        if host_header.startswith("[") and "]:" in host_header:
            name = host_header.split("]:", 1)[0] + "]"
        return is_loopback(name) or name == self.host or name in self.allowed_hosts
