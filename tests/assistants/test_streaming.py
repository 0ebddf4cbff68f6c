"""Streamed events: the names, order and payloads the SDK's AssistantEventHandler expects."""

from __future__ import annotations

import threading

from openai.lib.streaming import AssistantEventHandler
from openai.types.beta.threads import Message, Text, TextDelta

from .helpers import OWNER, names, over_the_wire
from .scripted_backend import Reply


def _thread(service) -> str:
    return service.threads.create(OWNER, {"messages": [{"role": "user", "content": "Hi"}]}).id


MESSAGE_EVENTS = [
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.message.created",
    "thread.message.in_progress",
    "thread.message.delta",
    "thread.message.completed",
    "thread.run.step.completed",
]


def test_streamed_text_run(service, backend, assistant):
    backend.script(Reply(text="Hello there my friend"))
    events = list(
        service.runs.stream(OWNER, _thread(service), {"assistant_id": assistant.id, "stream": True})
    )
    assert names(events) == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        *MESSAGE_EVENTS,
        "thread.run.completed",
    ]
    deltas = [
        e.data.delta.content[0].text.value for e in events if e.event == "thread.message.delta"
    ]
    assert deltas == ["Hello", " there", " my", " friend"]  # token by token
    assert events[0].data.status == "queued" and events[-1].data.status == "completed"


def test_function_call_stream_and_resume(service, backend, assistant):
    backend.script(Reply(tool_calls=[("get_weather", {"city": "Paris"})]), Reply(text="Sunny."))
    thread_id = _thread(service)
    first = list(service.runs.stream(OWNER, thread_id, {"assistant_id": assistant.id}))
    assert names(first) == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.run.step.delta",
        "thread.run.requires_action",
    ]
    run = first[-1].data
    call_id = run.required_action.submit_tool_outputs.tool_calls[0].id
    second = list(
        service.runs.stream_submit_tool_outputs(
            OWNER, thread_id, run.id, {"tool_outputs": [{"tool_call_id": call_id, "output": "25C"}]}
        )
    )
    assert names(second) == [
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.step.completed",
        *MESSAGE_EVENTS,
        "thread.run.completed",
    ]
    assert second[2].data.step_details.tool_calls[0].function.output == "25C"


def test_thread_and_run_stream_starts_with_the_thread(service, backend, assistant):
    backend.script(Reply(text="Hi"))
    events = list(
        service.runs.stream_create_and_run(
            OWNER,
            {
                "assistant_id": assistant.id,
                "thread": {"messages": [{"role": "user", "content": "Yo"}]},
            },
        )
    )
    assert [e.event for e in events[:3]] == [
        "thread.created",
        "thread.run.created",
        "thread.run.queued",
    ]
    assert events[0].data.id == events[1].data.thread_id


def test_the_sdk_event_handler_understands_our_events(service, backend, assistant):
    """Our events, serialized and parsed back as the SDK would, drive its handler end to end."""
    backend.script(
        Reply(tool_calls=[("get_weather", {"city": "Paris"})]), Reply(text="It is sunny today")
    )
    thread_id = _thread(service)

    class Recorder(AssistantEventHandler):
        def __init__(self) -> None:
            super().__init__()
            self.texts: list[str] = []
            self.tool_calls: list[str] = []

        def on_text_delta(self, delta: TextDelta, snapshot: Text) -> None:
            self.texts.append(snapshot.value)

        def on_tool_call_done(self, tool_call) -> None:
            self.tool_calls.append(tool_call.function.arguments)

    handler = Recorder()
    handler._init(
        iter(
            over_the_wire(
                list(service.runs.stream(OWNER, thread_id, {"assistant_id": assistant.id}))
            )
        )
    )
    handler.until_done()
    run = handler.current_run
    assert run.status == "requires_action"
    assert handler.tool_calls == ['{"city": "Paris"}']  # reassembled from the deltas

    call_id = run.required_action.submit_tool_outputs.tool_calls[0].id
    resumed = Recorder()
    events = service.runs.stream_submit_tool_outputs(
        OWNER, thread_id, run.id, {"tool_outputs": [{"tool_call_id": call_id, "output": "25C"}]}
    )
    resumed._init(iter(over_the_wire(list(events))))
    assert resumed.get_final_run().status == "completed"
    assert resumed.texts[-1] == "It is sunny today"
    final: list[Message] = resumed.get_final_messages()
    assert final[0].content[0].text.value == "It is sunny today"
    assert final[0] == service.messages.retrieve(OWNER, thread_id, final[0].id)


def test_subscribe_joins_a_running_stream_from_its_start(service, backend, assistant):
    gate = threading.Event()
    backend.script(Reply(text="Slow answer", gate=gate))
    thread_id = _thread(service)
    run = service.runs.create(OWNER, thread_id, {"assistant_id": assistant.id})  # no stream
    assert backend.streaming.wait(5)
    listener = service.runs.subscribe(OWNER, thread_id, run.id)
    gate.set()
    events = list(listener)
    assert events[0].event == "thread.run.created" and events[-1].event == "thread.run.completed"
    # A run at rest: its final state is all there is to hear.
    assert [e.event for e in service.runs.subscribe(OWNER, thread_id, run.id)] == [
        "thread.run.completed"
    ]


def test_cancel_is_streamed(service, backend, assistant):
    gate = threading.Event()
    backend.script(Reply(text="A long story", gate=gate))
    thread_id = _thread(service)
    stream = service.runs.stream(OWNER, thread_id, {"assistant_id": assistant.id})
    assert backend.streaming.wait(5)
    current = service.runs.list(OWNER, thread_id).data[0]
    service.runs.cancel(OWNER, thread_id, current.id)
    gate.set()
    tail = names(list(stream))[-5:]
    assert tail == [
        "thread.message.delta",
        "thread.run.cancelling",
        "thread.run.step.cancelled",
        "thread.message.incomplete",
        "thread.run.cancelled",
    ]
