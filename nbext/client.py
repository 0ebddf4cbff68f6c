"""The one place that builds the ``openai.OpenAI`` client the kit uses.

The magics and the tutorials talk to the server exactly as a learner's own
code would: through the official client, over HTTP. With ``NBEXT_SERVER_URL``
set that is a shared ``nbext serve``; otherwise it is this user's local server
process (:mod:`nbext.local_server`), started on first use and shared by every
kernel of the user.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from typing import TYPE_CHECKING

from nbext import local_server
from nbext.config import Settings

if TYPE_CHECKING:
    import openai

SHARED_PLACEHOLDER_KEY = "nbext-no-key"
"""The openai client insists on a key; a keyless shared server ignores it."""


def server_url(settings: Settings | None = None) -> str:
    """Where the kit's server is; starts the local one if it is not running."""
    settings = settings or Settings.from_env()
    return settings.server_url or local_server.ensure(settings).base_url


def api_key(settings: Settings | None = None) -> str:
    """The key to send: the shared server's, or this user's local-server key."""
    settings = settings or Settings.from_env()
    if settings.server_url:
        return settings.api_key or SHARED_PLACEHOLDER_KEY
    return local_server.server_key(settings)


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
    # Imported here, not at the top: ``%load_ext nbext`` imports this module for
    # ``warm_up``, and the SDK (about a second) waits for the first magic.
    import openai

    quiet_assistants_deprecation()
    settings = settings or Settings.from_env()
    return openai.OpenAI(
        base_url=server_url(settings),
        api_key=api_key(settings),
        **options,  # type: ignore[arg-type]
    )


def model_id(client: openai.OpenAI, settings: Settings | None = None) -> str:
    """The model the kit's server runs: ``NBEXT_MODEL`` if set (``nbext model --use``
    saves one too), else the first model the server lists.

    The tutorials ask this rather than naming a model, so they run on whichever
    model is configured.
    """
    settings = settings or Settings.from_env()
    return settings.model or client.models.list().data[0].id


def warm_up(settings: Settings | None = None) -> None:
    """Find or start the local server on a background thread; returns at once.

    A failure is left for the first magic to report, with its reason.
    """
    settings = settings or Settings.from_env()
    if settings.server_url:
        return

    def start() -> None:
        with contextlib.suppress(Exception):
            local_server.ensure(settings)

    threading.Thread(target=start, daemon=True, name="nbext-warm-up").start()


class SharedClient:
    """The magics' one client, which follows the local server across restarts.

    Each call checks (cheaply: a pid, no request) that the server still runs;
    if it died, the next magic starts a new one and gets a client for it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._client: openai.OpenAI | None = None

    def get(self) -> openai.OpenAI:
        # The SDK's import (~0.7 s) first: in a kernel whose `%load_ext` has just
        # started the server, it then overlaps the server's own start-up.
        import openai  # noqa: F401

        settings = Settings.from_env()
        url = server_url(settings)
        with self._lock:
            if self._client is None or str(self._client.base_url).rstrip("/") != url:
                self._client = make_client(settings)
            return self._client

    @property
    def base_url(self) -> str | None:
        """Where the last client pointed (for error messages)."""
        return str(self._client.base_url) if self._client else None


shared_client = SharedClient()
