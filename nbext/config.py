"""Every setting nbext reads from the environment, read in this one place.

One setting may also come from a file: the embedded model chosen with
``nbext model --use`` (saved in ``NBEXT_HOME``; ``NBEXT_MODEL`` wins).

Names all start with ``NBEXT_`` so a workshop can set them once (in a shell, a
``.env`` or Binder's ``start``) and every kernel and ``nbext serve`` agrees.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

CHOICES_FILE = "settings.json"
"""Choices saved in ``NBEXT_HOME`` by the command line (``nbext model --use``),
so every kernel and server of that home follows them; an environment
variable set for the same thing wins."""


def _default_home(environ: Mapping[str, str]) -> Path:
    cache = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "nbext"


GIB = 1024**3
MIB = 1024**2
KIB = 1024


@dataclass(frozen=True)
class CodeLimits:
    """code_interpreter's limits on each kernel; defaults suit a teaching server
    on a small machine. A host sets them with ``NBEXT_CODE_*`` (``CODE_LIMIT_ENV``)
    or ``nbext serve --code-...``; the sandbox enforces them
    (:mod:`nbext.tools.code_interpreter.sandbox`)."""

    timeout: float = 60.0
    """Wall-clock seconds per execution; then interrupt, then restart."""
    cpu_seconds: int = 120
    """CPU seconds per execution (all threads of the kernel process together)."""
    memory_bytes: int = GIB
    """Address-space limit (RLIMIT_AS) of the kernel and each process it starts."""
    max_processes: int = 64
    """Processes *and threads* of the sandbox uid (RLIMIT_NPROC counts tasks)."""
    max_output_bytes: int = 32 * KIB
    """Logs beyond this are cut, with a note saying how much was dropped."""
    max_file_bytes: int = 64 * MIB
    """Largest file the code may write (RLIMIT_FSIZE) and that is returned."""
    max_disk_bytes: int = 256 * MIB
    """Disk one execution may fill: bytes added to the working directory and the
    kernel's temporary directories; beyond it the kernel is stopped and the
    files that execution created are removed."""
    max_images: int = 16

    def describe(self) -> str:
        """One line for ``%nbext`` and ``nbext doctor``."""
        return (
            f"{self.timeout:g} s wall, {self.cpu_seconds} CPU s, "
            f"{size_text(self.memory_bytes)} memory, {self.max_processes} processes, "
            f"{size_text(self.max_output_bytes)} output, {size_text(self.max_file_bytes)} per "
            f"file, {size_text(self.max_disk_bytes)} disk per execution"
        )


def size_text(nbytes: int) -> str:
    """``1073741824`` -> ``1 GiB``; what is not a whole unit stays in bytes."""
    for unit, scale in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if nbytes >= scale and nbytes % scale == 0:
            return f"{nbytes // scale} {unit}"
    return f"{nbytes} B"


CODE_LIMIT_ENV: dict[str, tuple[str, str, str]] = {
    "timeout": ("NBEXT_CODE_TIMEOUT_S", "seconds", "wall-clock seconds per execution"),
    "cpu_seconds": ("NBEXT_CODE_CPU_S", "whole seconds", "CPU seconds per execution"),
    "memory_bytes": ("NBEXT_CODE_MEMORY", "size", "address space of each kernel process"),
    "max_processes": ("NBEXT_CODE_PROCESSES", "count", "processes and threads per kernel"),
    "max_output_bytes": ("NBEXT_CODE_OUTPUT", "size", "logs kept per execution"),
    "max_file_bytes": ("NBEXT_CODE_FILE_SIZE", "size", "largest file the code may write"),
    "max_disk_bytes": ("NBEXT_CODE_DISK", "size", "disk one execution may fill"),
}
"""Each settable limit: its environment variable, the kind of value it takes and
what it bounds (``nbext serve`` has one flag per limit, named after the variable)."""

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``"512M"``, ``"1G"``, ``"1.5GiB"``, ``"65536"`` -> bytes (K, M, G, T are powers
    of 1024: these are memory and disk budgets, not marketing units)."""
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a size: write bytes, or a number with K, M, G or T")
    number, unit = float(match.group(1)), match.group(2).lower()
    return int(number * 1024 ** " kmgt".index(unit or " "))


def parse_code_limit(name: str, text: str, source: str) -> float | int:
    """One limit's value, checked: positive, the right kind; ``source`` names it in errors."""
    kind = CODE_LIMIT_ENV[name][1]
    try:
        if kind == "size":
            value: float | int = parse_size(text)
        elif kind == "seconds":
            value = float(text)
        else:
            value = int(text)
    except ValueError as exc:
        detail = f" ({exc})" if kind == "size" else ""
        raise ValueError(
            f"{source} must be a positive {kind} value, not {text!r}{detail}."
        ) from exc
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError(f"{source} must be a positive {kind} value, not {text!r}.")
    if name == "max_processes" and value < 8:
        # The kernel alone runs several threads; fewer tasks and it cannot start.
        raise ValueError(
            f"{source} must be at least 8 (the kernel needs a few threads), not {text!r}."
        )
    if kind == "size" and value < KIB:
        raise ValueError(f"{source} must be at least 1K, not {text!r}.")
    return value


def code_limits_from(
    values: Mapping[str, str | None], source: Mapping[str, str]
) -> dict[str, float | int]:
    """The limits set in ``values`` (limit name -> text; empty means unset), parsed."""
    return {
        name: parse_code_limit(name, text, source[name]) for name, text in values.items() if text
    }


def _code_limits(environ: Mapping[str, str]) -> CodeLimits:
    names = {name: variable for name, (variable, _, _) in CODE_LIMIT_ENV.items()}
    values = {name: environ.get(variable) for name, variable in names.items()}
    return CodeLimits(**code_limits_from(values, names))  # type: ignore[arg-type]


PREFIX_CACHE_BYTES = 128 * 1024 * 1024
"""The default of ``NBEXT_PREFIX_CACHE``: about 10,000 prompt tokens of the 0.5B,
4,600 of the 1.5B (a tutorial's prompts take 20-40 MiB)."""


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
    code_limits: CodeLimits = field(default_factory=CodeLimits)
    """code_interpreter's limits (``NBEXT_CODE_*``, see :data:`CODE_LIMIT_ENV`)."""
    prefix_cache_bytes: int = PREFIX_CACHE_BYTES
    """Memory for the KV caches of earlier prompts, which the embedded model puts
    back instead of evaluating them again (``NBEXT_PREFIX_CACHE``, a size such as
    ``128M``; ``0`` turns it off; see nbext.backends.prefix_cache)."""

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
            code_limits=_code_limits(env),
            prefix_cache_bytes=_size(env, "NBEXT_PREFIX_CACHE", PREFIX_CACHE_BYTES),
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
            "NBEXT_PREFIX_CACHE": str(self.prefix_cache_bytes),
        }
        for limit in fields(CodeLimits):
            if limit.name in CODE_LIMIT_ENV:
                values[CODE_LIMIT_ENV[limit.name][0]] = str(getattr(self.code_limits, limit.name))
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


def _size(environ: Mapping[str, str], name: str, default: int) -> int:
    value = environ.get(name)
    if not value:
        return default
    try:
        return parse_size(value)
    except ValueError as error:
        raise ValueError(f"{name}: {error} (0 turns it off).") from None


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
