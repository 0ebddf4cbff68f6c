"""One ``%%assistant`` run, live: the stream's event handler, the tool loop.

The run is streamed with ``client.beta.threads.runs.stream`` and an
``AssistantEventHandler`` that writes every event into the views' state, so
the learner watches the statuses, steps and words arrive. When the run stops
at ``requires_action`` the kernel runs the learner's functions and streams
on with ``submit_tool_outputs_stream`` — unless ``--manual`` asks to stop
there and let the learner submit the outputs. The views themselves are a
:class:`~nbext.widgets.run_panel.RunPanel`; this module only feeds them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import openai
from openai import AssistantEventHandler
from openai.types.beta import AssistantStreamEvent
from openai.types.beta.threads import Message, MessageDelta, Run
from openai.types.beta.threads.runs import RunStep, RunStepDelta

from nbext.magics.assistant_book import AssistantBook
from nbext.magics.failures import MagicError
from nbext.magics.function_tools import call_function
from nbext.magics.run_fetch import FileCache, fill_inspectors
from nbext.widgets.error_card import card_for_run
from nbext.widgets.run_panel import RunPanel

StreamStarter = Callable[[AssistantEventHandler], AbstractContextManager[Any]]


class PanelHandler(AssistantEventHandler):
    """Stream events -> view state. ``on_first_delta`` is the cancel drill's hook."""

    def __init__(self, live: RunPanel, on_first_delta: Callable[[Run], None] | None = None):
        super().__init__()
        self.live = live
        self._on_first_delta = on_first_delta

    def on_event(self, event: AssistantStreamEvent) -> None:
        name = event.event
        data = getattr(event, "data", None)
        if name.startswith("thread.run.step."):
            if name != "thread.run.step.delta":
                self.live.steps.upsert(data.model_dump(mode="json"))  # type: ignore[union-attr]
        elif name.startswith("thread.run."):
            assert isinstance(data, Run)
            self.live.run = data
            self.live.timeline.run_id = data.id
            # The event name, not ``data.status``: ``created`` and ``queued`` both carry
            # status "queued", and the learner should see both events.
            self.live.timeline.record(name.removeprefix("thread.run."))
        elif name in (
            "thread.message.created",
            "thread.message.completed",
            "thread.message.incomplete",
        ):
            self.live.thread.upsert(data.model_dump(mode="json"))  # type: ignore[union-attr]
        elif name == "error":
            detail = getattr(data, "message", None) or str(data)
            self.live.errors.add("error", "the stream reported an error", detail)

    def on_message_delta(self, delta: MessageDelta, snapshot: Message) -> None:
        self.live.thread.upsert(snapshot.model_dump(mode="json"))
        if self._on_first_delta is not None and self.live.run is not None:
            hook, self._on_first_delta = self._on_first_delta, None
            hook(self.live.run)

    def on_run_step_delta(self, delta: RunStepDelta, snapshot: RunStep) -> None:
        self.live.steps.upsert(snapshot.model_dump(mode="json"))


def stream_into(live: RunPanel, start: StreamStarter, handler: PanelHandler) -> Run:
    """Run one stream to its end; return the run as it stopped."""
    live.panel.throttle(True)
    try:
        with start(handler) as stream:
            stream.until_done()
    finally:
        live.panel.throttle(False)
        live.panel.flush()
    if live.run is None:
        raise MagicError("the stream ended before the run was created.")
    return live.run


def function_loop(
    client: openai.OpenAI,
    live: RunPanel,
    run: Run,
    functions: dict[str, Callable[..., Any]],
    submitted_by: dict[str, str],
) -> Run:
    """While the run waits for function outputs, compute them here and stream on."""
    while run.status == "requires_action" and run.required_action is not None:
        outputs = []
        for call in run.required_action.submit_tool_outputs.tool_calls:
            result = call_function(functions, call.id, call.function.name, call.function.arguments)
            if result.error:
                live.errors.add(
                    "error",
                    f"function {result.name} failed",
                    result.error,
                    "The error was sent to the model as the call's output, so the run goes on.",
                )
            submitted_by[call.id] = f"nbext (ran {result.name} in this kernel)"
            outputs.append({"tool_call_id": call.id, "output": result.output})
        live.steps.submitted_by = dict(submitted_by)
        run = stream_into(live, submit_stream(client, run, outputs), PanelHandler(live))
    return run


def submit_stream(client: openai.OpenAI, run: Run, outputs: list[Any]) -> StreamStarter:
    """A starter that resumes ``run`` with ``outputs`` and streams what follows."""

    def start(handler: AssistantEventHandler) -> Any:
        return client.beta.threads.runs.submit_tool_outputs_stream(
            run_id=run.id, thread_id=run.thread_id, tool_outputs=outputs, event_handler=handler
        )

    return start


def wait_while(client: openai.OpenAI, live: RunPanel, run: Run, status: str, seconds: float) -> Run:
    """Poll a run no stream is watching (a paused run left to expire); return it changed
    or, after ``seconds``, unchanged."""
    deadline = time.monotonic() + seconds
    while run.status == status and time.monotonic() < deadline:
        time.sleep(0.5)
        run = client.beta.threads.runs.retrieve(run.id, thread_id=run.thread_id)
    if run.status != status:
        live.run = run
        live.timeline.record(run.status)
    return run


def await_outputs(live: RunPanel, run: Run, book: AssistantBook) -> None:
    """Leave a run at ``requires_action`` for the learner: say which calls wait, and how
    to answer them (``%assistant submit`` or their own ``submit_tool_outputs``)."""
    assert run.required_action is not None  # the status says so
    calls = run.required_action.submit_tool_outputs.tool_calls
    book.pending = (run.thread_id, run.id)
    listed = "; ".join(f"{c.function.name}({c.function.arguments}) [{c.id}]" for c in calls)
    live.errors.add(
        "action",
        f"requires_action: {len(calls)} function call(s) wait for your output",
        listed,
        "Run `%assistant submit 'OUTPUT' ...` (one output per call, in order), or call "
        "client.beta.threads.runs.submit_tool_outputs(run_id=..., thread_id=..., "
        "tool_outputs=[{'tool_call_id': ..., 'output': ...}]) yourself.",
    )


def finish_panel(
    client: openai.OpenAI,
    live: RunPanel,
    run: Run,
    files: FileCache,
    usage_rows: list[dict[str, Any]],
    submitted_by: dict[str, str],
) -> None:
    """After the stream: the final steps, context, prompts, usage and any error card."""
    fill_inspectors(
        client,
        run,
        steps=live.steps,
        context=live.context,
        prompts=live.prompts,
        files=files,
        thread=live.thread,
    )
    live.steps.submitted_by = dict(submitted_by)
    if run.usage is not None and run.status != "requires_action":
        usage_rows.append(
            {
                "label": f"run {len(usage_rows) + 1}",
                "prompt_tokens": run.usage.prompt_tokens,
                "completion_tokens": run.usage.completion_tokens,
            }
        )
    live.usage.rows = list(usage_rows)
    card = card_for_run(run.model_dump(mode="json"))
    if card is not None:
        live.errors.add(**card)
    live.refresh()
