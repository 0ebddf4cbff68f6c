"""Server-sent events from a backend's blocking iterator.

The backends are plain, blocking Python (llama.cpp generates on the calling
thread). Each ``next()`` therefore runs in the thread pool, and the iterator is
closed when the client goes away, so the model is released for the next
request instead of finishing an answer nobody reads.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TypeVar, cast

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from nbext.errors import APIError

T = TypeVar("T")
_END = object()


async def next_in_thread(items: Iterator[T]) -> T | object:
    """The next item, or ``_END``; blocking work stays off the event loop."""
    return await run_in_threadpool(next, items, _END)


async def _events(
    first: T,
    rest: Iterator[T],
    encode: Callable[[T], ServerSentEvent | None],
    done: ServerSentEvent,
    error_event: str | None,
) -> AsyncIterator[ServerSentEvent]:
    try:
        item: T | object = first
        while item is not _END:
            event = encode(item)  # type: ignore[arg-type]
            if event is not None:
                yield event
            item = await next_in_thread(rest)
        yield done
    except APIError as error:
        # Headers are gone already: report in-band, as OpenAI does.
        yield ServerSentEvent(data=json.dumps(error.body()), event=error_event)
    finally:
        close = getattr(rest, "close", None)
        if close is not None:
            await run_in_threadpool(close)


async def event_stream(
    items: Iterator[T],
    encode: Callable[[T], ServerSentEvent | None],
    *,
    done: ServerSentEvent,
    error_event: str | None = None,
) -> EventSourceResponse:
    """Start ``items`` and answer with an SSE response.

    The first item is produced before the response starts, so a request the
    backend rejects still gets a proper error status rather than a 200 stream.
    ``done`` closes a complete stream; an error after the start is sent as
    ``data: {"error": ...}`` under the event name ``error_event``.
    """
    first = await next_in_thread(items)
    if first is _END:
        raise APIError("The backend produced no output.", status=502, type="server_error")
    events = _events(cast(T, first), items, encode, done, error_event)
    return EventSourceResponse(events, sep="\n", ping=15)
