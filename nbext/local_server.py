"""One nbext server per user on this machine, outside every kernel.

Why a separate process: llama.cpp is native code. When it crashes (a build
that does not suit the CPU, the kernel's OOM killer), it takes its whole
process with it; inside a Jupyter kernel that would lose every variable of
the learner's notebook. So the model and the server live in a child process
that all of one user's kernels share. A crash there becomes one short error in
a cell and the next cell starts it again; ten kernels hold one model, not ten;
threads live in the same database, so a restart loses nothing.

It answers only its own user. It listens on 127.0.0.1, which every user of the
machine shares, and requires a random key kept in a file that only this user
can read. Files under ``$NBEXT_HOME/run`` (a 0700 directory):

- ``key``: the key (0600), made once and kept, so a restarted server keeps it
  (and a learner's client made before the restart keeps working);
- ``server-<config>.json``: pid, port and start time of the running server
  (0600), written by the server once it listens, cleared when it stops;
- ``server-<config>.lock``: held while one kernel starts the server, so that
  two kernels starting at once start one server;
- ``server-<config>.log``: the server's output, quoted when it fails to start.

``<config>`` is a hash of the settings a server is built from (database,
backend, model, threads, model aliases) and of the nbext code itself
(:func:`code_fingerprint`): kernels configured alike share a server, and a
kernel configured otherwise (a test's own database) or running newer code
never borrows one that serves something else.

This module is the kernel's side and imports nothing heavy; the server's side
is :mod:`nbext.server.local`.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from nbext import __version__
from nbext.config import Settings
from nbext.errors import APIError

SERVER_MODULE = "nbext.server.local"
START_TIMEOUT_S = 120.0
"""Generous: the first start may assemble the model file (a few seconds)."""

_lock = threading.Lock()
_children: dict[int, subprocess.Popen[bytes]] = {}
"""Servers this process started, kept to reap them and read how they ended."""
_last_seen: dict[str, int] = {}
"""Run dir -> pid of the server this process last used (to explain its end)."""


@dataclass(frozen=True)
class ServerInfo:
    """Where the running server listens."""

    pid: int
    port: int
    started: float

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


def run_dir(settings: Settings) -> Path:
    """``$NBEXT_HOME/run``, created private (0700) and kept private."""
    path = settings.run_dir
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def server_key(settings: Settings) -> str:
    """This user's key for the local server; made on first use, then kept."""
    path = run_dir(settings) / "key"
    with contextlib.suppress(FileNotFoundError):
        key = path.read_text().strip()
        if key:
            return key
    key = "nbext-local-" + secrets.token_urlsafe(32)
    # O_EXCL: if another kernel wrote one first, use theirs.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as file:
        file.write(key)
    return key


def config_name(settings: Settings) -> str:
    """Which server a kernel with these settings should share (see module doc)."""
    what = [settings.db_url, settings.backend_url, settings.backend_key, settings.model]
    what += [settings.threads, settings.model_aliases, settings.prefix_cache_bytes]
    what += [code_fingerprint()]
    what += [repr(settings.code_limits)]  # a kernel given other NBEXT_CODE_* gets its own
    return hashlib.sha256(json.dumps(what).encode()).hexdigest()[:12]


@functools.cache
def code_fingerprint() -> str:
    """Which nbext code a server runs: its version and every module's size and mtime.

    Part of the server's identity, so a kernel started after nbext was upgraded
    (or edited, in a development checkout) starts a server running the new
    code rather than borrowing one that still runs the old; the old one stops
    when idle. About 100 ``stat`` calls, once per process.
    """
    return fingerprint_of(Path(__file__).parent)


def fingerprint_of(package: Path) -> str:
    """:func:`code_fingerprint` of the package directory ``package``."""
    files = sorted(package.rglob("*.py"))
    facts = [(str(f.relative_to(package)), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    return hashlib.sha256(json.dumps([__version__, facts]).encode()).hexdigest()[:12]


def _run_file(settings: Settings, suffix: str) -> Path:
    return run_dir(settings) / f"server-{config_name(settings)}{suffix}"


def _state_path(settings: Settings) -> Path:
    return _run_file(settings, ".json")


def log_path(settings: Settings) -> Path:
    return _run_file(settings, ".log")


def read_state(settings: Settings) -> dict[str, float] | None:
    try:
        return json.loads(_state_path(settings).read_text())
    except (FileNotFoundError, ValueError):
        return None


def write_state(settings: Settings, pid: int, port: int) -> None:
    """Called by the server once it listens (atomic, 0600)."""
    path = _state_path(settings)
    tmp = path.with_suffix(f".{pid}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump({"pid": pid, "port": port, "started": time.time()}, file)
    tmp.replace(path)


def clear_state(settings: Settings, pid: int) -> None:
    """Called by the server as it stops; leaves a newer server's file alone.

    The port stays recorded (as ``last_port``) so the next server can take the
    same one and clients made before a restart still find it.
    """
    state = read_state(settings)
    if state and state.get("pid") == pid:
        path = _state_path(settings)
        tmp = path.with_suffix(f".{pid}.tmp")
        tmp.write_text(json.dumps({"last_port": state.get("port")}))
        tmp.replace(path)


def preferred_port(settings: Settings) -> int:
    """The port the previous server used, if any (0: any free port)."""
    state = read_state(settings) or {}
    return int(state.get("port") or state.get("last_port") or 0)


def _is_our_server(pid: int) -> bool:
    """True when ``pid`` is alive and is an nbext server (not a reused pid)."""
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True  # no /proc (macOS): trust the pid
    return SERVER_MODULE.encode() in cmdline


def find(settings: Settings | None = None) -> ServerInfo | None:
    """The running server, if there is one; cheap (no request is sent)."""
    settings = settings or Settings.from_env()
    state = read_state(settings)
    if not state or "pid" not in state:
        return None
    pid = int(state["pid"])
    if not _is_our_server(pid):
        return None
    _last_seen[str(_state_path(settings))] = pid
    return ServerInfo(pid=pid, port=int(state["port"]), started=float(state["started"]))


def _healthy(info: ServerInfo, key: str) -> bool:
    request = urllib.request.Request(
        f"http://127.0.0.1:{info.port}/health", headers={"Authorization": f"Bearer {key}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


@contextlib.contextmanager
def _start_lock(settings: Settings) -> Iterator[None]:
    with open(_run_file(settings, ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure(settings: Settings | None = None) -> ServerInfo:
    """The running server, started first if there is none (or it died)."""
    settings = settings or Settings.from_env()
    info = find(settings)
    if info is not None:
        return info
    with _lock, _start_lock(settings):
        # Another kernel may have started it while this one waited.
        info = find(settings)
        if info is not None and _healthy(info, server_key(settings)):
            return info
        return _start(settings)


def _start(settings: Settings) -> ServerInfo:
    server_key(settings)  # the server reads it from the file
    log_file = log_path(settings)
    with open(log_file, "wb") as log:
        # A session of its own and no inherited pipes: the server outlives
        # this kernel (other kernels share it), and whoever reads this
        # kernel's output never waits for the server to close it.
        child = subprocess.Popen(
            [sys.executable, "-m", SERVER_MODULE],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env={**os.environ, **settings.as_environ()},
        )
    _children[child.pid] = child
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise APIError(
                f"The local nbext server did not start ({describe_exit(child.returncode)}). "
                f"Its log, {log_file}, ends with:\n{_tail(log_file)}\n"
                "Run `nbext doctor` in a terminal to find out why.",
                status=503,
                type="server_error",
            )
        state = read_state(settings)
        if state and state.get("pid") == child.pid:
            _last_seen[str(_state_path(settings))] = child.pid
            return ServerInfo(
                pid=child.pid, port=int(state["port"]), started=float(state["started"])
            )
        time.sleep(0.02)
    child.kill()
    raise APIError(
        f"The local nbext server did not start within {START_TIMEOUT_S:.0f} s. "
        f"See {log_file}, or run `nbext doctor` in a terminal.",
        status=503,
        type="server_error",
    )


def why_stopped(settings: Settings | None = None) -> str | None:
    """Why the server this process last used is gone; ``None`` if it still runs.

    "killed by SIGKILL" when this process started it (and so can read its exit
    status); less when another kernel did.
    """
    settings = settings or Settings.from_env()
    pid = _last_seen.get(str(_state_path(settings)))
    if pid is None or _is_our_server(pid):
        return None
    child = _children.get(pid)
    if child is None:
        return "another kernel started it, so its exit status is unknown here"
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(timeout=2)  # a zombie a moment ago: reap it to read its status
    return describe_exit(child.returncode)


def describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "still running"
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-returncode).name}"
        return f"killed by signal {-returncode}"
    return f"exited with status {returncode}"


def stop(settings: Settings | None = None, timeout: float = 10.0) -> bool:
    """Stop the running server (SIGTERM, then SIGKILL); False if none ran."""
    settings = settings or Settings.from_env()
    info = find(settings)
    if info is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _is_our_server(info.pid):
        child = _children.get(info.pid)
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=0.05)
        else:
            time.sleep(0.05)
    if _is_our_server(info.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(info.pid, signal.SIGKILL)
    return True


def stop_all(settings: Settings) -> int:
    """Stop every server of this data directory, whatever its settings (tests)."""
    stopped = 0
    for state_file in settings.run_dir.glob("server-*.json"):
        try:
            pid = int(json.loads(state_file.read_text()).get("pid", 0))
        except (OSError, ValueError):
            continue
        if pid and _is_our_server(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            stopped += 1
    return stopped


def _tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(errors="replace").rstrip().splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:]) or "(empty)"
