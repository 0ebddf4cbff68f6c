"""What tutorials written for the hosted API do, run by one release of the ``openai`` SDK.

This module imports only ``openai``, ``pytest`` and the standard library: it runs
in a virtual environment of its own per SDK release (``tests/compat/matrix.py``
builds them), against an ``nbext serve`` at ``NBEXT_COMPAT_BASE_URL``. It cannot
import nbext, because nbext itself is built on the newest SDK's types.

Calls are written the way a user of each release writes them. Where a newer
release names a parameter that an older one does not (``stream_options`` came
in 1.26, ``max_completion_tokens`` for chat in 1.45), ``sdk_call`` sends it in
``extra_body``, as that release's documentation says to; where a resource moved
(``client.beta.vector_stores`` became ``client.vector_stores``), the suite looks
for it by feature, never by version number.

Model calls are short and clear-cut (temperature 0, a few tokens, forced tools)
so that the answer does not depend on the CPU and the whole suite takes about a
minute per release.
"""

from __future__ import annotations

import inspect
import json
import os
import time
from collections.abc import Callable
from typing import Any

import openai
import pytest
from openai import AssistantEventHandler

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
FRANCE = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
HANDBOOK = (
    b"# Office handbook\n\n"
    b"## Pets\nDogs are welcome in the office on Wednesdays. Cats stay at home.\n\n"
    b"## Holidays\nEvery employee has 25 vacation days a year.\n"
)
# Runs that end in a state an old SDK's poll helper does not know (1.21 polls
# "incomplete" forever) would hang: every run below finishes well within these.
RUN_BUDGET = 256  # the API's minimum for a run
POLL_MS = 100


def sdk_call(method: Callable[..., Any], **params: Any) -> Any:
    """Call ``method``; parameters this SDK release does not name go in ``extra_body``."""
    named = inspect.signature(method).parameters
    unnamed = {key: params.pop(key) for key in list(params) if key not in named}
    if unnamed:
        params["extra_body"] = {**params.get("extra_body", {}), **unnamed}
    return method(**params)


def field(obj: Any, name: str) -> Any:
    """A response field; a release that predates it keeps it as a plain dict entry."""
    return obj[name] if isinstance(obj, dict) else getattr(obj, name)


def vector_stores(client: openai.OpenAI) -> Any:
    """``client.vector_stores`` in newer releases, ``client.beta.vector_stores`` before."""
    found = getattr(client, "vector_stores", None) or getattr(client.beta, "vector_stores", None)
    assert found is not None, "this SDK release has no vector stores resource"
    return found


@pytest.fixture(scope="session")
def client() -> openai.OpenAI:
    base_url = os.environ["NBEXT_COMPAT_BASE_URL"]
    return openai.OpenAI(base_url=base_url, api_key="compat", max_retries=0, timeout=180)


@pytest.fixture(scope="session")
def model(client: openai.OpenAI) -> str:
    return client.models.list().data[0].id


@pytest.fixture(scope="session")
def geo(client: openai.OpenAI, model: str) -> Any:
    return client.beta.assistants.create(
        model=model,
        name="Geography tutor",
        instructions="You answer geography questions in one word.",
        temperature=0,
    )


def answer_text(client: openai.OpenAI, thread_id: str) -> str:
    newest = client.beta.threads.messages.list(thread_id, order="desc", limit=1).data[0]
    assert newest.role == "assistant"
    return "".join(block.text.value for block in newest.content if block.type == "text")


def ask(client: openai.OpenAI, assistant_id: str, question: str, **run: Any) -> Any:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": question}])
    return sdk_call(
        client.beta.threads.runs.create_and_poll,
        thread_id=thread.id,
        assistant_id=assistant_id,
        poll_interval_ms=POLL_MS,
        max_completion_tokens=RUN_BUDGET,
        **run,
    )


# -- models and chat completions ------------------------------------------------------------


def test_models_list_and_retrieve(client: openai.OpenAI, model: str) -> None:
    listed = list(client.models.list())
    assert listed and all(m.object == "model" for m in listed)
    assert client.models.retrieve(model).id == model


def test_chat_completion(client: openai.OpenAI, model: str) -> None:
    completion = sdk_call(
        client.chat.completions.create,
        model=model,
        messages=FRANCE,
        temperature=0,
        max_completion_tokens=8,
    )
    assert completion.object == "chat.completion"
    assert "Paris" in completion.choices[0].message.content
    usage = completion.usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens > 0


def test_chat_stream_with_include_usage(client: openai.OpenAI, model: str) -> None:
    stream = sdk_call(
        client.chat.completions.create,
        model=model,
        messages=FRANCE,
        temperature=0,
        max_completion_tokens=8,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Paris" in text
    assert {c.id for c in chunks} == {chunks[0].id}
    last = chunks[-1]
    assert last.choices == []
    assert field(last.usage, "completion_tokens") >= 1


def test_chat_forced_tool_call(client: openai.OpenAI, model: str) -> None:
    completion = sdk_call(
        client.chat.completions.create,
        model=model,
        messages=[{"role": "user", "content": "What's the weather in Paris?"}],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        temperature=0,
        max_completion_tokens=40,
    )
    choice = completion.choices[0]
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}


def test_chat_streamed_tool_call_reassembles(client: openai.OpenAI, model: str) -> None:
    stream = sdk_call(
        client.chat.completions.create,
        model=model,
        messages=[{"role": "user", "content": "What's the weather in Paris?"}],
        tools=[WEATHER_TOOL],
        tool_choice="required",
        temperature=0,
        max_completion_tokens=40,
        stream=True,
    )
    name, arguments, finish = "", "", None
    for chunk in stream:
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or []:
                name += delta.function.name or ""
                arguments += delta.function.arguments or ""
            finish = choice.finish_reason or finish
    assert (name, finish) == ("get_weather", "tool_calls")
    assert json.loads(arguments) == {"city": "Paris"}


# -- assistants, threads, messages ----------------------------------------------------------


def test_assistant_create_retrieve_update_list_delete(client: openai.OpenAI, model: str) -> None:
    first = client.beta.assistants.create(model=model, name="first", metadata={"lesson": "1"})
    second = client.beta.assistants.create(model=model, name="second")
    assert client.beta.assistants.retrieve(first.id) == first
    renamed = client.beta.assistants.update(first.id, description="Capitals.")
    assert (renamed.name, renamed.description, renamed.metadata) == (
        "first",
        "Capitals.",
        {"lesson": "1"},
    )
    newest = client.beta.assistants.list(limit=1, order="desc")
    assert [a.id for a in newest.data] == [second.id] and newest.has_more
    after = client.beta.assistants.list(limit=1, order="desc", after=second.id)
    assert [a.id for a in after.data] == [first.id]
    for assistant in (first, second):
        deleted = client.beta.assistants.delete(assistant.id)
        assert deleted.deleted and deleted.id == assistant.id
    with pytest.raises(openai.NotFoundError):
        client.beta.assistants.retrieve(first.id)


def test_thread_with_messages_cursors_and_order(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": word} for word in ("one", "two", "three")],
        metadata={"course": "compat"},
    )
    assert client.beta.threads.retrieve(thread.id).metadata == {"course": "compat"}
    fourth = client.beta.threads.messages.create(thread.id, role="user", content="four")
    assert fourth.thread_id == thread.id and fourth.content[0].text.value == "four"

    def words(page: Any) -> list[str]:
        return [m.content[0].text.value for m in page.data]

    messages = client.beta.threads.messages
    assert words(messages.list(thread.id, order="asc")) == ["one", "two", "three", "four"]
    assert words(messages.list(thread.id, order="desc", limit=2)) == ["four", "three"]
    first = messages.list(thread.id, order="asc", limit=1)
    assert first.has_more
    assert words(messages.list(thread.id, order="asc", after=first.data[0].id)) == [
        "two",
        "three",
        "four",
    ]
    # Auto-pagination follows the ``after`` cursor page by page.
    every = [m.content[0].text.value for m in messages.list(thread.id, order="asc", limit=1)]
    assert every == ["one", "two", "three", "four"]

    assert client.beta.threads.update(thread.id, metadata={"course": "x"}).metadata == {
        "course": "x"
    }
    assert client.beta.threads.delete(thread.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.retrieve(thread.id)


# -- runs ------------------------------------------------------------------------------------


def test_run_create_and_poll_with_steps(client: openai.OpenAI, geo: Any) -> None:
    run = ask(client, geo.id, "What is the capital of France?")
    assert run.status == "completed", run.last_error
    assert run.usage.total_tokens > 0
    assert "Paris" in answer_text(client, run.thread_id)
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id).data
    assert [s.type for s in steps] == ["message_creation"]
    assert steps[0].status == "completed"
    assert client.beta.threads.runs.list(run.thread_id).data[0].id == run.id


def test_run_with_a_hand_written_poll_loop(client: openai.OpenAI, geo: Any) -> None:
    """How tutorials written before the poll helpers waited for a run."""
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "What is the capital of Spain?"}]
    )
    run = client.beta.threads.runs.create(
        thread_id=thread.id, assistant_id=geo.id, max_completion_tokens=RUN_BUDGET
    )
    assert run.status == "queued"
    seen = {run.status}
    deadline = time.monotonic() + 120
    while run.status in ("queued", "in_progress") and time.monotonic() < deadline:
        time.sleep(POLL_MS / 1000)
        run = client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
        seen.add(run.status)
    assert run.status == "completed", run.last_error
    assert seen <= {"queued", "in_progress", "completed"}
    assert "Madrid" in answer_text(client, thread.id)


class Recorder(AssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []
        self.deltas: list[str] = []

    def on_event(self, event: Any) -> None:
        self.events.append(event.event)

    def on_text_delta(self, delta: Any, snapshot: Any) -> None:
        self.deltas.append(delta.value)


def test_run_stream_with_an_event_handler(client: openai.OpenAI, geo: Any) -> None:
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "What is the capital of Italy?"}]
    )
    handler = Recorder()
    with client.beta.threads.runs.stream(
        thread_id=thread.id,
        assistant_id=geo.id,
        event_handler=handler,
        max_completion_tokens=RUN_BUDGET,
    ) as stream:
        stream.until_done()
        final = stream.get_final_run()
    assert final.status == "completed"
    assert handler.events[:3] == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
    ]
    assert handler.events[-1] == "thread.run.completed"
    for expected in (
        "thread.run.step.created",
        "thread.message.created",
        "thread.message.delta",
        "thread.message.completed",
        "thread.run.step.completed",
    ):
        assert expected in handler.events
    assert "Rome" in "".join(handler.deltas)
    assert "".join(handler.deltas) == answer_text(client, thread.id)


def test_run_create_with_stream_true(client: openai.OpenAI, geo: Any) -> None:
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "What is the capital of Germany?"}]
    )
    events = list(
        client.beta.threads.runs.create(
            thread_id=thread.id,
            assistant_id=geo.id,
            stream=True,
            max_completion_tokens=RUN_BUDGET,
        )
    )
    names = [e.event for e in events]
    assert names[0] == "thread.run.created" and names[-1] == "thread.run.completed"
    text = "".join(
        block.text.value
        for e in events
        if e.event == "thread.message.delta"
        for block in e.data.delta.content
        if block.type == "text"
    )
    assert "Berlin" in text


def test_function_tool_requires_action_then_submit_outputs(
    client: openai.OpenAI, model: str
) -> None:
    forecaster = client.beta.assistants.create(
        model=model,
        instructions="Use the tools to answer in one sentence.",
        tools=[WEATHER_TOOL],
        temperature=0,
    )
    run = sdk_call(
        client.beta.threads.create_and_run_poll,
        assistant_id=forecaster.id,
        thread={"messages": [{"role": "user", "content": "What's the weather in Paris?"}]},
        tool_choice="required",
        max_completion_tokens=RUN_BUDGET,
        poll_interval_ms=POLL_MS,
    )
    assert run.status == "requires_action"
    assert run.required_action.type == "submit_tool_outputs"
    (call,) = run.required_action.submit_tool_outputs.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    with pytest.raises(openai.BadRequestError):  # the thread is busy until outputs arrive
        client.beta.threads.messages.create(run.thread_id, role="user", content="hurry")

    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=run.thread_id,
        tool_outputs=[{"tool_call_id": call.id, "output": '{"temperature_c": 21}'}],
        poll_interval_ms=POLL_MS,
    )
    assert done.status == "completed", done.last_error
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    recorded = steps[0].step_details.tool_calls[0]
    assert recorded.id == call.id and recorded.function.output == '{"temperature_c": 21}'
    assert "21" in answer_text(client, run.thread_id)


def test_cancel_a_run(client: openai.OpenAI, geo: Any) -> None:
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "Write a long essay about every river in Europe."}]
    )
    run = client.beta.threads.runs.create(
        thread_id=thread.id,
        assistant_id=geo.id,
        instructions="Write long, detailed essays.",
        max_completion_tokens=RUN_BUDGET,
    )
    deadline = time.monotonic() + 60
    while run.status == "queued" and time.monotonic() < deadline:
        run = client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
    assert run.status == "in_progress"
    cancelling = client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert cancelling.status in ("cancelling", "cancelled")
    final = client.beta.threads.runs.poll(run.id, thread.id, poll_interval_ms=POLL_MS)
    assert final.status == "cancelled" and final.cancelled_at is not None
    # The thread takes messages again once the run is over.
    client.beta.threads.messages.create(thread.id, role="user", content="Never mind.")


# -- files, vector stores, server-side tools ------------------------------------------------


def test_file_upload_retrieve_content_delete(client: openai.OpenAI) -> None:
    uploaded = client.files.create(file=("handbook.md", HANDBOOK), purpose="assistants")
    assert (uploaded.filename, uploaded.bytes, uploaded.purpose) == (
        "handbook.md",
        len(HANDBOOK),
        "assistants",
    )
    assert client.files.retrieve(uploaded.id).id == uploaded.id
    assert client.files.content(uploaded.id).content == HANDBOOK
    assert uploaded.id in [f.id for f in client.files.list()]
    assert client.files.delete(uploaded.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(uploaded.id)


def test_vector_store_lifecycle(client: openai.OpenAI) -> None:
    stores = vector_stores(client)
    uploaded = client.files.create(file=("handbook.md", HANDBOOK), purpose="assistants")
    store = stores.create(name="Handbook")
    entry = stores.files.create_and_poll(
        file_id=uploaded.id, vector_store_id=store.id, poll_interval_ms=POLL_MS
    )
    assert entry.status == "completed", entry.last_error
    current = stores.retrieve(store.id)
    assert current.file_counts.completed == 1 and current.status == "completed"
    assert [f.id for f in stores.files.list(vector_store_id=store.id)] == [uploaded.id]
    assert stores.update(store.id, name="Docs").name == "Docs"
    assert store.id in [s.id for s in stores.list()]
    assert stores.delete(store.id).deleted
    with pytest.raises(openai.NotFoundError):
        stores.retrieve(store.id)


def test_file_search_run(client: openai.OpenAI, model: str) -> None:
    stores = vector_stores(client)
    uploaded = client.files.create(file=("handbook.md", HANDBOOK), purpose="assistants")
    store = stores.create(name="Handbook", file_ids=[uploaded.id])
    entry = stores.files.poll(uploaded.id, vector_store_id=store.id, poll_interval_ms=POLL_MS)
    assert entry.status == "completed", entry.last_error
    librarian = client.beta.assistants.create(
        model=model,
        instructions="Answer questions about the office handbook in one sentence.",
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
        temperature=0,
    )
    run = ask(
        client,
        librarian.id,
        "On which day are dogs welcome in the office?",
        tool_choice={"type": "file_search"},
    )
    assert run.status == "completed", run.last_error
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    assert steps[0].step_details.tool_calls[0].type == "file_search"
    assert "Wednesday" in answer_text(client, run.thread_id)


def test_code_interpreter_run(client: openai.OpenAI, model: str) -> None:
    coder = client.beta.assistants.create(
        model=model,
        instructions="Use the code_interpreter tool to run code and print the result.",
        tools=[{"type": "code_interpreter"}],
        temperature=0,
    )
    run = ask(
        client,
        coder.id,
        "Run this code exactly:\n```python\nprint(6 * 7)\n```",
        tool_choice={"type": "code_interpreter"},
    )
    assert run.status == "completed", run.last_error
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    call = steps[0].step_details.tool_calls[0]
    assert call.type == "code_interpreter" and "6 * 7" in call.code_interpreter.input
    assert [o.logs for o in call.code_interpreter.outputs if o.type == "logs"] == ["42\n"]


# -- errors ----------------------------------------------------------------------------------


def test_not_found_is_a_404_in_openai_shape(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client.beta.assistants.retrieve("asst_does_not_exist")
    assert missing.value.status_code == 404
    assert "asst_does_not_exist" in missing.value.message
    assert missing.value.type == "invalid_request_error"
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.list("thread_does_not_exist")


def test_bad_request_is_a_400_naming_the_parameter(client: openai.OpenAI, model: str) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model=model, messages=FRANCE, temperature=3)
    assert refused.value.status_code == 400
    assert refused.value.type == "invalid_request_error"
    assert refused.value.param == "temperature"
