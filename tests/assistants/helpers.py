"""Small helpers shared by the runtime tests."""

from __future__ import annotations

import json
import time
from typing import Any

from openai._models import construct_type
from openai.types.beta import AssistantStreamEvent
from openai.types.beta.threads import Run

from nbext.api.services import AssistantsService
from nbext.engine.events import Event, event_json

OWNER = "key-alice"
OTHER = "key-bob"

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


class FakeClock:
    """Time that moves only when a test says so (for expiry)."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def wait_run(service: AssistantsService, run: Run, owner: str = OWNER, timeout: float = 5) -> Run:
    """Poll until the worker has moved the run to a pause or an end."""
    deadline = time.monotonic() + timeout
    while True:
        run = service.runs.retrieve(owner, run.thread_id, run.id)
        if run.status not in ("queued", "in_progress", "cancelling"):
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run still {run.status} after {timeout}s")
        time.sleep(0.005)


def names(events: list[Event]) -> list[str]:
    """Event names, with runs of identical deltas collapsed (token counts vary)."""
    result: list[str] = []
    for event in events:
        if event.event.endswith(".delta") and result and result[-1] == event.event:
            continue
        result.append(event.event)
    return result


def over_the_wire(events: list[Event]) -> list[AssistantStreamEvent]:
    """What the SDK would parse from our SSE frames (event name + JSON data)."""
    return [
        construct_type(  # type: ignore[misc]
            type_=AssistantStreamEvent,
            value={"event": e.event, "data": json.loads(event_json(e))},
        )
        for e in events
    ]


def error_of(call: Any, *args: Any) -> Any:
    """The APIError a service call raises."""
    from nbext.errors import APIError

    try:
        call(*args)
    except APIError as exc:
        return exc
    raise AssertionError("no APIError raised")


def at_the_edge(method: Any, check: Any) -> Any:
    """``method`` called as its route calls it: the body (last argument) parsed first."""
    from nbext.api.validation import validate

    def call(*args: Any) -> Any:
        *head, body = args
        return method(*head, validate(body, check))

    return call
