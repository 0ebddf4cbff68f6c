"""Helpers shared by the HTTP tests: polling a run, running `nbext serve` for real."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Collection, Mapping
from typing import Any

import httpx
import openai
from openai import AssistantEventHandler
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


WEATHER_OUTPUT = '{"temperature_c": 21}'
"""What the tests' get_weather "returns" for Paris."""


def assert_answered_from_the_output(sdk: openai.OpenAI, run: Run) -> None:
    """Submit :data:`WEATHER_OUTPUT` for ``run``'s one call; the run must complete
    with the call and its output in a tool_calls step, then an answer holding it."""
    calls = run.required_action.submit_tool_outputs.tool_calls  # type: ignore[union-attr]
    done = sdk.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=run.thread_id,
        tool_outputs=[{"tool_call_id": calls[0].id, "output": WEATHER_OUTPUT}],
    )
    assert done.status == "completed", done.last_error
    steps = sdk.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    assert steps[0].step_details.tool_calls[0].function.output == WEATHER_OUTPUT  # type: ignore[union-attr]
    reply = sdk.beta.threads.messages.list(run.thread_id, run_id=run.id).data[0]
    assert "21" in reply.content[0].text.value  # type: ignore[union-attr]


class EventRecorder(AssistantEventHandler):
    """Records a streamed run: event names, text deltas, function names in step deltas."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []
        self.text: list[str] = []
        self.tool_call_names: list[str] = []

    def on_event(self, event: Any) -> None:
        self.names.append(event.event)
        if event.event == "thread.run.step.delta":
            details = event.data.delta.step_details
            for call in getattr(details, "tool_calls", None) or []:
                if call.type == "function" and call.function and call.function.name:
                    self.tool_call_names.append(call.function.name)

    def on_text_delta(self, delta: Any, snapshot: Any) -> None:
        self.text.append(delta.value)
