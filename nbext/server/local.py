"""``python -m nbext.server.local``: the per-user local server process.

Kernels start it through :func:`nbext.local_server.ensure` (that module says
why the model lives outside the kernel). It serves the same app as ``nbext
serve``, on 127.0.0.1, requiring the user's key; it announces its port in
``$NBEXT_HOME/run/server.json`` once it listens, and stops by itself after
``NBEXT_SERVER_IDLE_S`` seconds without a request.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from typing import Any

from nbext import local_server
from nbext.backends import backend_from_settings
from nbext.config import Settings
from nbext.server.app import build_app
from nbext.server.runner import listening_socket, quiet_server

NICENESS = 2
"""A little below the kernels: while the model's threads hold every core, the
learner's kernel and JupyterLab still get the CPU the moment they need it
(measured in benchmarks/README.md: generation speed does not change)."""


class ActivityMeter:
    """ASGI wrapper that notes when the last request ended and how many are open."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.open = 0
        self.last = time.monotonic()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.open += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.open -= 1
            self.last = time.monotonic()


def main() -> int:
    settings = Settings.from_env()
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    key = local_server.server_key(settings)
    backend = backend_from_settings(settings)
    print(f"nbext local server (pid {os.getpid()}): {backend.description}", flush=True)
    load = getattr(backend, "load", None)
    if load is not None:
        load()  # before announcing: "ready" means it can answer
    app = build_app(settings, backend=backend, local_key=key)
    meter = ActivityMeter(app)
    try:
        # The previous server's port, so clients made before a restart still work.
        sock = listening_socket("127.0.0.1", local_server.preferred_port(settings))
    except OSError:
        sock = listening_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = quiet_server(meter)

    def announce_then_watch_idle() -> None:
        while not server.started:
            if server.should_exit:
                return
            time.sleep(0.005)
        local_server.write_state(settings, os.getpid(), port)
        print(f"listening on http://127.0.0.1:{port}/v1", flush=True)
        while not server.should_exit:
            time.sleep(min(5.0, settings.server_idle_s))
            idle = time.monotonic() - meter.last
            if meter.open == 0 and idle >= settings.server_idle_s:
                print(f"idle for {idle:.0f} s: stopping", flush=True)
                server.should_exit = True

    threading.Thread(target=announce_then_watch_idle, daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        local_server.clear_state(settings, os.getpid())
    return 0


if __name__ == "__main__":
    sys.exit(main())
