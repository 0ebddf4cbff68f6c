"""Every setting nbext reads from the environment, read in this one place.

Names all start with ``NBEXT_`` so a workshop can set them once (in a shell, a
``.env`` or Binder's ``start``) and every kernel and ``nbext serve`` agrees.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


def _default_home(environ: Mapping[str, str]) -> Path:
    cache = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "nbext"


@dataclass(frozen=True)
class Settings:
    """What the kit talks to and where it keeps its files."""

    home: Path
    """Cache and data directory: the model file, the database, uploaded files."""
    backend_url: str | None
    """A remote OpenAI-compatible endpoint; ``None`` means the embedded model."""
    backend_key: str | None
    model: str | None
    """Model id to ask the backend for; ``None`` means the backend's default."""
    db_url: str
    server_url: str | None
    """An already running ``nbext serve``; ``None`` starts one inside the kernel."""
    api_key: str | None
    """The key a shared server requires (and the key the client sends)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = Path(env["NBEXT_HOME"]).expanduser() if env.get("NBEXT_HOME") else _default_home(env)
        return cls(
            home=home,
            backend_url=env.get("NBEXT_BACKEND_URL") or None,
            backend_key=env.get("NBEXT_BACKEND_KEY") or None,
            model=env.get("NBEXT_MODEL") or None,
            db_url=env.get("NBEXT_DB_URL") or f"sqlite:///{home / 'nbext.sqlite3'}",
            server_url=env.get("NBEXT_SERVER_URL") or None,
            api_key=env.get("NBEXT_API_KEY") or None,
        )

    @property
    def model_dir(self) -> Path:
        return self.home / "models"
