"""Streaming: the events of a run, fanned out to whoever is listening.

A run executes in a worker thread; a caller that asked for ``stream=True``
reads its events from a :class:`RunChannel`. A channel covers one stretch of
the run's life — from its creation (or from a tool-output submission) until
it pauses in ``requires_action`` or ends — which is exactly what one
streaming HTTP response of OpenAI's covers. Events are kept for the whole
stretch, so a listener that attaches late still sees them from the start
(``thread.run.created`` first), and the worker never waits for a slow reader.

Event names and payloads are those the SDK's ``AssistantEventHandler``
expects: ``(event_name, sdk_object)``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import NamedTuple

from pydantic import BaseModel

from nbext.wire import event_data

# After these the stream of one stretch is over (OpenAI then sends ``done``).
FINAL_EVENTS = frozenset(
    {
        "thread.run.requires_action",
        "thread.run.completed",
        "thread.run.incomplete",
        "thread.run.failed",
        "thread.run.cancelled",
        "thread.run.expired",
    }
)


class Event(NamedTuple):
    """One server-sent event: its name and the SDK object it carries."""

    event: str
    data: BaseModel


def event_json(event: Event) -> str:
    """The ``data:`` line of the SSE frame (see :mod:`nbext.wire` for the rules)."""
    return event_data(event.event, event.data)


class RunChannel:
    """The events of one stretch of a run, readable by any number of listeners."""

    def __init__(self) -> None:
        self._events: list[Event] = []
        self._closed = False
        self._changed = threading.Condition()

    def publish(self, name: str, data: BaseModel) -> None:
        # A copy: the worker keeps mutating its objects after publishing them.
        # Deltas are built fresh for each event and never touched again.
        event = Event(name, data if name.endswith(".delta") else data.model_copy(deep=True))
        with self._changed:
            self._events.append(event)
            self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def __iter__(self) -> Iterator[Event]:
        position = 0
        while True:
            with self._changed:
                while position >= len(self._events) and not self._closed:
                    self._changed.wait()
                pending = self._events[position:]
                done = self._closed
            yield from pending
            position += len(pending)
            if done and not pending:
                return


class EventHub:
    """The open channel of each run that is currently executing."""

    def __init__(self) -> None:
        self._channels: dict[str, RunChannel] = {}
        self._lock = threading.Lock()

    def open(self, run_id: str) -> RunChannel:
        channel = RunChannel()
        with self._lock:
            previous = self._channels.get(run_id)
            self._channels[run_id] = channel
        if previous is not None:
            previous.close()
        return channel

    def current(self, run_id: str) -> RunChannel | None:
        with self._lock:
            return self._channels.get(run_id)

    def publish(self, run_id: str, name: str, data: BaseModel) -> None:
        channel = self.current(run_id)
        if channel is not None:
            channel.publish(name, data)

    def close(self, run_id: str) -> None:
        """End the stretch: listeners drain what is left, later listeners get a fresh view."""
        with self._lock:
            channel = self._channels.pop(run_id, None)
        if channel is not None:
            channel.close()
