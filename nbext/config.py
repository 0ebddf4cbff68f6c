"""Every setting nbext reads from the environment, read in this one place.

One setting may also come from a file: the embedded model chosen with
``nbext model --use`` (saved in ``NBEXT_HOME``; ``NBEXT_MODEL`` wins).

Names all start with ``NBEXT_`` so a workshop can set them once (in a shell, a
``.env`` or Binder's ``start``) and every kernel and ``nbext serve`` agrees.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

CHOICES_FILE = "settings.json"
"""Choices saved in ``NBEXT_HOME`` by the command line (``nbext model --use``),
so every kernel and server of that home follows them; an environment
variable set for the same thing wins."""


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
    """Model id to ask the backend for; ``None`` means the backend's default.
    ``NBEXT_MODEL``; for the embedded backend, when that is unset, the model
    saved by ``nbext model --use`` (not when ``NBEXT_SERVER_URL`` names a
    server: that one serves what its own home chose)."""
    db_url: str
    server_url: str | None
    """An already running ``nbext serve``; ``None`` starts one inside the kernel."""
    api_key: str | None
    """The key a shared server requires (and the key the client sends)."""
    threads: int | None = None
    """llama.cpp threads (generation and prompt); ``None``: every core this
    process may run on (``NBEXT_THREADS``; see benchmarks/README.md)."""
    server_idle_s: float = 3600.0
    """The per-user local server stops after this long without a request
    (``NBEXT_SERVER_IDLE_S``); the next magic starts it again."""
    model_aliases: str | None = None
    """Which OpenAI model names the backend's model serves (``NBEXT_MODEL_ALIASES``:
    unset for the default table, ``strict`` for none; see nbext.backends.aliases)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = Path(env["NBEXT_HOME"]).expanduser() if env.get("NBEXT_HOME") else _default_home(env)
        backend_url = env.get("NBEXT_BACKEND_URL") or None
        server_url = env.get("NBEXT_SERVER_URL") or None
        model = env.get("NBEXT_MODEL") or None
        if model is None and backend_url is None and server_url is None:
            model = saved_model(home)
        return cls(
            home=home,
            backend_url=backend_url,
            backend_key=env.get("NBEXT_BACKEND_KEY") or None,
            model=model,
            db_url=env.get("NBEXT_DB_URL") or f"sqlite:///{home / 'nbext.sqlite3'}",
            server_url=server_url,
            api_key=env.get("NBEXT_API_KEY") or None,
            threads=_positive_int(env, "NBEXT_THREADS"),
            server_idle_s=float(env.get("NBEXT_SERVER_IDLE_S") or 3600.0),
            model_aliases=env.get("NBEXT_MODEL_ALIASES") or None,
        )

    def as_environ(self) -> dict[str, str]:
        """These settings as the variables :meth:`from_env` reads (for a child process)."""
        values = {
            "NBEXT_HOME": str(self.home),
            "NBEXT_BACKEND_URL": self.backend_url,
            "NBEXT_BACKEND_KEY": self.backend_key,
            "NBEXT_MODEL": self.model,
            "NBEXT_DB_URL": self.db_url,
            "NBEXT_SERVER_URL": self.server_url,
            "NBEXT_API_KEY": self.api_key,
            "NBEXT_THREADS": str(self.threads) if self.threads else None,
            "NBEXT_SERVER_IDLE_S": str(self.server_idle_s),
            "NBEXT_MODEL_ALIASES": self.model_aliases,
        }
        return {name: value or "" for name, value in values.items()}

    def embedded(self) -> Settings:
        """These settings switched to the embedded backend: a remote model name
        (``NBEXT_MODEL`` for the endpoint) gives way to the saved embedded choice."""
        if self.backend_url is None:
            return self
        return replace(self, backend_url=None, backend_key=None, model=saved_model(self.home))

    @property
    def model_dir(self) -> Path:
        return self.home / "models"

    @property
    def run_dir(self) -> Path:
        """The per-user local server's key, address and log (mode 0700)."""
        return self.home / "run"


def _positive_int(environ: Mapping[str, str], name: str) -> int | None:
    value = environ.get(name)
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name} must be a positive whole number, not {value!r}.")
    return int(value)


def saved_model(home: Path) -> str | None:
    """The embedded model ``nbext model --use`` saved in ``home``, if any."""
    try:
        choices = json.loads((home / CHOICES_FILE).read_text())
    except (OSError, ValueError):
        return None
    model = choices.get("model") if isinstance(choices, dict) else None
    return model if isinstance(model, str) and model else None


def save_model(home: Path, model: str) -> Path:
    """Save ``model`` as ``home``'s embedded model (atomically); return the file."""
    path = home / CHOICES_FILE
    try:
        choices = json.loads(path.read_text())
    except (OSError, ValueError):
        choices = {}
    if not isinstance(choices, dict):
        choices = {}
    choices["model"] = model
    home.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{CHOICES_FILE}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(choices, indent=2) + "\n")
    partial.replace(path)
    return path
