"""Helpers shared by the HTTP tests: polling a run, running `nbext serve` for real."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Collection, Mapping

import httpx
import openai
from openai.types.beta.threads import Run


def wait_for_status(
    client: openai.OpenAI, run: Run, statuses: Collection[str], timeout: float = 120
) -> Run:
    """Poll until the run reaches one of ``statuses`` (fail loudly on a timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        run = client.beta.threads.runs.retrieve(run.id, thread_id=run.thread_id)
        if run.status in statuses:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run.id} stayed {run.status}, wanted {sorted(statuses)}")
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_serve(env: Mapping[str, str], port: int, *args: str) -> subprocess.Popen[bytes]:
    """``nbext serve`` in a child process, returned once it answers ``/health``."""
    process = subprocess.Popen(
        [sys.executable, "-m", "nbext.cli", "serve", "--port", str(port), *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            output = process.stdout.read().decode() if process.stdout else ""
            raise AssertionError(f"nbext serve did not start: {output}")
        time.sleep(0.2)
