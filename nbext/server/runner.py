"""Run the server: on a background thread, or in the foreground.

:class:`BackgroundServer` binds 127.0.0.1 on a free port and runs uvicorn on
its own thread and event loop (tests and benchmarks use it); kernels use the
per-user server process of :mod:`nbext.server.local` instead.
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from fastapi import FastAPI

from nbext.errors import APIError

_START_TIMEOUT_S = 30.0


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket for uvicorn (``port`` 0: any free port)."""
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that
    # say so, and without it every small response waits ~40 ms (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def quiet_server(app: object) -> uvicorn.Server:
    """uvicorn as the kit runs it in the background: warnings only."""
    return uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", timeout_keep_alive=30)  # type: ignore[arg-type]
    )


class BackgroundServer:
    """uvicorn serving ``app`` on a daemon thread of this process (tests, benchmarks)."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self._socket = listening_socket(host, port)
        self.host, self.port = self._socket.getsockname()[:2]
        self._server = quiet_server(app)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            daemon=True,
            name="nbext-server",
        )

    @property
    def base_url(self) -> str:
        """What an ``openai.OpenAI(base_url=...)`` wants."""
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise APIError(
                    f"The local nbext server did not start on {self.host}:{self.port}.",
                    status=503,
                    type="server_error",
                )
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def serve_forever(app: FastAPI, host: str, port: int) -> None:
    """``nbext serve``: the foreground server a workshop shares."""
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_keep_alive=30)
