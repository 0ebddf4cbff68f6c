"""Kernels a killed server left running: recorded at start, ended at the next start.

A server that is SIGKILLed runs no shutdown code. Its kernels notice within a
second (ipykernel, or the launcher that supervises a kernel's PID namespace,
polls its parent) and exit; in a PID namespace all the code started dies with
it, but without one what the code started (a ``subprocess``, a forked worker)
lives on. So each kernel is recorded, while
it runs, in ``<sandboxes>/.kernels/<kernel pid>.json`` with the server that
owns it; a server starting on the same sandboxes directory ends the process
group (and, as root, the private uid) of every kernel whose server is gone.
Recorded per data directory, so servers of other homes are never touched.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from nbext.tools.code_interpreter import sandbox

log = logging.getLogger("nbext.code_interpreter")

RECORDS = ".kernels"
"""Below the sandboxes directory; a thread id never starts with a dot."""


def _start_time(pid: int) -> str | None:
    """The process's start time (clock ticks after boot): a reused pid has another."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _this_server() -> dict[str, object]:
    return {"server_pid": os.getpid(), "server_started": _start_time(os.getpid())}


def record(sandboxes: Path, kernel_pid: int, uid: int | None, runtime: Path | None) -> Path:
    """Note a started kernel (its pid is its process group: jupyter_client starts a session)."""
    directory = sandboxes / RECORDS
    directory.mkdir(mode=0o700, exist_ok=True)
    path = directory / f"{kernel_pid}.json"
    entry = {
        **_this_server(),
        "kernel_pid": kernel_pid,
        "kernel_started": _start_time(kernel_pid),
        "uid": uid,
        "runtime": str(runtime) if runtime else None,
    }
    path.write_text(json.dumps(entry))
    return path


def reap(sandboxes: Path, python: str = sys.executable) -> int:
    """End the kernels (and all they started) of servers that died; returns how many."""
    directory = sandboxes / RECORDS
    if not directory.is_dir():
        return 0
    reaped = 0
    for path in directory.glob("*.json"):
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError):
            path.unlink(missing_ok=True)
            continue
        server = entry.get("server_pid")
        if isinstance(server, int) and _start_time(server) == entry.get("server_started"):
            continue  # its server is alive: its kernel is its business
        try:
            _kill_group(entry.get("kernel_pid"), entry.get("kernel_started"))
            if isinstance(entry.get("uid"), int):
                sandbox.kill_uid(entry["uid"], python)
        except (OSError, subprocess.SubprocessError) as exc:
            # The server starts regardless; the record stays for the next start.
            log.warning("could not end the kernel of %s: %s", path.name, exc)
            continue
        if entry.get("runtime"):
            shutil.rmtree(entry["runtime"], ignore_errors=True)
        path.unlink(missing_ok=True)
        reaped += 1
    return reaped


def _kill_group(pgid: object, kernel_started: object) -> None:
    """SIGKILL the kernel's process group: only members started after the kernel,
    so a group id reused since by someone else is left alone."""
    if not isinstance(pgid, int) or not isinstance(kernel_started, str):
        return
    for pid, fields in sandbox.process_stats():
        if int(fields[2]) == pgid and int(fields[19]) >= int(kernel_started):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
