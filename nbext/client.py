"""The one place that builds the ``openai.OpenAI`` client the kit uses.

The magics and the tutorials talk to the server exactly as a learner's own
code would: through the official client, over HTTP. With ``NBEXT_SERVER_URL``
set that is a shared ``nbext serve``; otherwise a server is started inside
this process on first use and kept for the life of the kernel.
"""

from __future__ import annotations

import threading
import warnings

import openai

from nbext.backends import backend_from_settings
from nbext.config import Settings
from nbext.server.app import create_app
from nbext.server.runner import BackgroundServer

LOCAL_KEY = "nbext-local"
"""The openai client insists on a key; the in-process server needs none."""

_lock = threading.Lock()
_local_server: BackgroundServer | None = None


def local_server(settings: Settings | None = None) -> BackgroundServer:
    """This process's server, started on the first call."""
    global _local_server
    with _lock:
        if _local_server is None:
            settings = settings or Settings.from_env()
            settings.home.mkdir(parents=True, exist_ok=True)
            app = create_app(
                backend_from_settings(settings), db_url=settings.db_url, home=settings.home
            )
            _local_server = BackgroundServer(app).start()
        return _local_server


def running_local_server() -> BackgroundServer | None:
    """The in-process server if one was started, without starting one."""
    return _local_server


def server_url(settings: Settings | None = None) -> str:
    settings = settings or Settings.from_env()
    return settings.server_url or local_server(settings).base_url


def quiet_assistants_deprecation() -> None:
    """Silence the SDK's warning that the hosted Assistants API is deprecated.

    It is true of OpenAI's service and beside the point for this server, which
    exists to keep that API alive; in a notebook it would print on every call.
    """
    warnings.filterwarnings(
        "ignore",
        message=r"(deprecated|The Assistants API is deprecated.*)$",
        category=DeprecationWarning,
    )


def make_client(settings: Settings | None = None, **options: object) -> openai.OpenAI:
    """An ``openai.OpenAI`` pointed at the kit's server (``options`` pass through)."""
    quiet_assistants_deprecation()
    settings = settings or Settings.from_env()
    return openai.OpenAI(
        base_url=server_url(settings),
        api_key=settings.api_key or LOCAL_KEY,
        **options,  # type: ignore[arg-type]
    )
