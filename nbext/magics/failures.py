"""A failed magic is one red line in the cell, never a traceback.

Two sources: :class:`MagicError`, a mistake the magics themselves notice (an
empty cell, a function that is not in the namespace, no run waiting for
outputs), and a failed call to the server (the ``openai`` SDK's errors, a
dropped connection, the local server failing to start), which
:func:`describe_failure` turns into what happened and what to do.
:func:`reported` catches both around a handler. Usage mistakes, a line that
cannot be read, are IPython's ``UsageError`` and pass through untouched.

Nothing here imports the SDK: the magics load this module with
``%load_ext nbext``, and an ``except`` clause must not cost an ``openai``
import. The error classes are looked up in ``sys.modules`` when something was
raised; an SDK that was never imported cannot have raised.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from nbext import local_server
from nbext.client import shared_client
from nbext.config import Settings
from nbext.errors import APIError
from nbext.widgets.notice import show_error


class MagicError(Exception):
    """A mistake a magic reports as one red line; the cell still succeeds."""


def dropped_connection_errors() -> tuple[type[Exception], ...]:
    """What the SDK lets through when the server vanishes in the middle of a
    stream: it wraps failures to connect, not a connection that drops while a
    response is read. openai 3.x speaks through ``httpx2``, older ones ``httpx``."""
    modules = (sys.modules.get(name) for name in ("httpx2", "httpx"))
    return tuple(module.TransportError for module in modules if module is not None)


def server_failures() -> tuple[type[Exception], ...]:
    """What a call to the kit's server can raise, as far as it has been imported."""
    openai = sys.modules.get("openai")
    sdk = (openai.OpenAIError,) if openai is not None else ()
    return (APIError, *sdk, *dropped_connection_errors())


@contextmanager
def reported() -> Iterator[None]:
    """Show a :class:`MagicError` or a failed server call as one line and carry on."""
    try:
        yield
    except MagicError as error:
        show_error(str(error))
    # An except clause's expression is evaluated only when an exception reaches it.
    except server_failures() as error:
        show_error(describe_failure(error, shared_client.base_url))


def describe_failure(error: Exception, base_url: str | None) -> str:
    """One sentence for a failed call: what happened and what to do."""
    import openai  # only ever called after a failure, when the SDK is loaded

    if isinstance(error, (openai.APIConnectionError, *dropped_connection_errors())):
        settings = Settings.from_env()
        if settings.server_url:
            return (
                f"cannot reach the nbext server at {base_url}: check that `nbext serve` "
                "is running there (NBEXT_SERVER_URL)."
            )
        how = local_server.why_stopped(settings)
        if how:
            return (
                f"the local nbext server stopped ({how}) while answering. Your variables "
                "are intact and threads are kept: run the cell again to start a new server "
                "(if it stops again, run `nbext doctor` in a terminal)."
            )
        return f"lost the connection to the local nbext server at {base_url}; run the cell again."
    if isinstance(error, openai.APIStatusError):
        body = error.body if isinstance(error.body, dict) else {}
        detail = body.get("error", body) if isinstance(body.get("error", body), dict) else {}
        message = detail.get("message") or error.message
        if isinstance(error, openai.AuthenticationError):
            return f"{message} (the key comes from NBEXT_API_KEY)."
        return str(message)
    if isinstance(error, APIError):
        return error.message
    return f"{type(error).__name__}: {error}"
