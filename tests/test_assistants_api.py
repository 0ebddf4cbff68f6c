"""The Assistants API v2 contract: every route, through the real ``openai`` client,
over real HTTP, on the real embedded model; raw responses checked against
OpenAI's published OpenAPI description.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from api_helpers import (
    EventRecorder,
    assert_answered_from_the_output,
    free_port,
    start_serve,
    wait_for_status,
)
from openai.types.beta import Assistant
from openapi_contract import assert_response
from pinned_model import MODEL_ID

from nbext.backends.embedded import EmbeddedBackend
from nbext.server.app import create_app
from nbext.server.runner import BackgroundServer

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('assistants') / 'nbext.sqlite3'}"


@pytest.fixture(scope="module")
def api(embedded: EmbeddedBackend, db_url: str) -> Iterator[BackgroundServer]:
    running = BackgroundServer(create_app(embedded, db_url=db_url)).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def sdk(api: BackgroundServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=api.base_url, api_key="local", max_retries=0)


@pytest.fixture(scope="module")
def geo(sdk: openai.OpenAI) -> Assistant:
    return sdk.beta.assistants.create(
        model=MODEL_ID,
        name="Geography tutor",
        instructions="You answer geography questions in one short sentence.",
        metadata={"lesson": "04"},
        temperature=0,
    )


def raw(api: BackgroundServer, method: str, path: str, **kwargs: object) -> httpx.Response:
    return httpx.request(method, f"{api.base_url}{path}", timeout=120, **kwargs)  # type: ignore[arg-type]


def test_assistant_crud_and_list(sdk: openai.OpenAI, api: BackgroundServer, geo: Assistant) -> None:
    assert sdk.beta.assistants.retrieve(geo.id) == geo
    renamed = sdk.beta.assistants.update(geo.id, description="Capitals and rivers.")
    assert renamed.description == "Capitals and rivers." and renamed.name == "Geography tutor"
    extra = sdk.beta.assistants.create(model=MODEL_ID, name="temporary")
    page = sdk.beta.assistants.list(limit=1, order="desc")
    assert [a.id for a in page.data] == [extra.id] and page.has_more
    assert sdk.beta.assistants.list(after=extra.id, order="desc").data[0].id == geo.id
    assert sdk.beta.assistants.delete(extra.id).deleted
    with pytest.raises(openai.NotFoundError):
        sdk.beta.assistants.retrieve(extra.id)

    assert_response(
        "get", "/assistants/{assistant_id}", raw(api, "GET", f"/assistants/{geo.id}").json()
    )
    assert_response("get", "/assistants", raw(api, "GET", "/assistants").json())


def test_thread_and_message_routes(sdk: openai.OpenAI, api: BackgroundServer) -> None:
    thread = sdk.beta.threads.create(
        messages=[{"role": "user", "content": "Hello"}], metadata={"course": "nbext"}
    )
    assert sdk.beta.threads.retrieve(thread.id).metadata == {"course": "nbext"}
    assert sdk.beta.threads.update(thread.id, metadata={"course": "x"}).metadata == {"course": "x"}
    added = sdk.beta.threads.messages.create(thread.id, role="user", content="Second")
    listed = sdk.beta.threads.messages.list(thread.id, order="asc")
    assert [m.content[0].text.value for m in listed.data] == ["Hello", "Second"]
    assert sdk.beta.threads.messages.retrieve(added.id, thread_id=thread.id).id == added.id
    changed = sdk.beta.threads.messages.update(added.id, thread_id=thread.id, metadata={"k": "v"})
    assert changed.metadata == {"k": "v"}

    assert_response("get", "/threads/{thread_id}", raw(api, "GET", f"/threads/{thread.id}").json())
    assert_response(
        "get",
        "/threads/{thread_id}/messages",
        raw(api, "GET", f"/threads/{thread.id}/messages").json(),
    )
    assert sdk.beta.threads.messages.delete(added.id, thread_id=thread.id).deleted
    assert sdk.beta.threads.delete(thread.id).deleted
    with pytest.raises(openai.NotFoundError):
        sdk.beta.threads.retrieve(thread.id)


def test_create_and_poll_completes_with_steps_usage_and_prompt(
    sdk: openai.OpenAI, api: BackgroundServer, geo: Assistant
) -> None:
    thread = sdk.beta.threads.create(
        messages=[{"role": "user", "content": "What is the capital of France?"}]
    )
    run = sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=geo.id)
    assert run.status == "completed" and run.usage.total_tokens > 0
    answer = sdk.beta.threads.messages.list(thread.id, run_id=run.id).data
    assert len(answer) == 1 and "Paris" in answer[0].content[0].text.value

    steps = sdk.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert [s.type for s in steps] == ["message_creation"]
    assert steps[0].step_details.message_creation.message_id == answer[0].id
    assert sdk.beta.threads.runs.steps.retrieve(
        steps[0].id, thread_id=thread.id, run_id=run.id
    ).usage

    assert_response(
        "get",
        "/threads/{thread_id}/runs/{run_id}",
        raw(api, "GET", f"/threads/{thread.id}/runs/{run.id}").json(),
    )
    assert_response(
        "get",
        "/threads/{thread_id}/runs/{run_id}/steps",
        raw(api, "GET", f"/threads/{thread.id}/runs/{run.id}/steps").json(),
    )
    prompts = raw(api, "GET", f"/threads/{thread.id}/runs/{run.id}/prompts").json()["data"]
    sent = prompts[0]["request"]["messages"]
    assert sent[0] == {"role": "system", "content": geo.instructions}
    assert sent[-1]["content"] == "What is the capital of France?"
    assert sdk.beta.threads.runs.list(thread.id).data[0].id == run.id


def test_function_calling_round_trip(sdk: openai.OpenAI, weather_tool: dict) -> None:
    forecaster = sdk.beta.assistants.create(
        model=MODEL_ID, instructions="Use the tools to answer.", tools=[weather_tool], temperature=0
    )
    run = sdk.beta.threads.create_and_run_poll(
        assistant_id=forecaster.id,
        thread={"messages": [{"role": "user", "content": "What's the weather in Paris?"}]},
        tool_choice="required",
    )
    assert run.status == "requires_action"
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}

    with pytest.raises(openai.BadRequestError):  # the thread is busy until outputs arrive
        sdk.beta.threads.messages.create(run.thread_id, role="user", content="hurry")

    assert_answered_from_the_output(sdk, run)


def test_streaming_with_an_event_handler(sdk: openai.OpenAI, geo: Assistant) -> None:
    thread = sdk.beta.threads.create(
        messages=[{"role": "user", "content": "What is the capital of Italy?"}]
    )
    handler = EventRecorder()
    with sdk.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=geo.id, event_handler=handler
    ) as stream:
        stream.until_done()
        final = stream.get_final_run()
    assert handler.names[:3] == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
    ]
    assert handler.names[-1] == "thread.run.completed"
    for expected in (
        "thread.run.step.created",
        "thread.message.created",
        "thread.message.delta",
        "thread.message.completed",
        "thread.run.step.completed",
    ):
        assert expected in handler.names
    assert "Rome" in "".join(handler.text) and final.status == "completed"


def test_submit_tool_outputs_stream(sdk: openai.OpenAI, weather_tool: dict) -> None:
    forecaster = sdk.beta.assistants.create(model=MODEL_ID, tools=[weather_tool], temperature=0)
    thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "Weather in Oslo?"}])
    with sdk.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=forecaster.id, tool_choice="required"
    ) as stream:
        stream.until_done()
        paused = stream.get_final_run()
    assert paused.status == "requires_action"
    call = paused.required_action.submit_tool_outputs.tool_calls[0]
    handler = EventRecorder()
    with sdk.beta.threads.runs.submit_tool_outputs_stream(
        run_id=paused.id,
        thread_id=thread.id,
        tool_outputs=[{"tool_call_id": call.id, "output": '{"temperature_c": -3, "sky": "snow"}'}],
        event_handler=handler,
    ) as stream:
        stream.until_done()
    assert handler.names[0] == "thread.run.queued" and handler.names[-1] == "thread.run.completed"


def test_cancelled_run(sdk: openai.OpenAI, geo: Assistant) -> None:
    thread = sdk.beta.threads.create(
        messages=[
            {"role": "user", "content": "Write a very long essay about every river in Europe."}
        ]
    )
    run = sdk.beta.threads.runs.create(thread_id=thread.id, assistant_id=geo.id)
    wait_for_status(sdk, run, {"in_progress"})
    cancelling = sdk.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert cancelling.status in ("cancelling", "cancelled")
    final = wait_for_status(sdk, run, {"cancelled"})
    assert final.cancelled_at is not None
    sdk.beta.threads.messages.create(thread.id, role="user", content="Never mind.")  # usable again


def test_incomplete_run_on_completion_budget(sdk: openai.OpenAI, geo: Assistant) -> None:
    # An answer that cannot be short: an essay may end before the budget on some
    # CPU, but counting is mechanical. Greedy, this model counts to 200 (691
    # tokens, since Qwen writes digits one token each) before it stops; it would
    # have to stop before 90 to fit in 256 tokens.
    thread = sdk.beta.threads.create(
        messages=[
            {
                "role": "user",
                "content": "Write the numbers from 1 to 400, one per line, and nothing else.",
            }
        ]
    )
    run = sdk.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=geo.id, max_completion_tokens=256
    )
    assert run.status == "incomplete"
    assert run.incomplete_details.reason == "max_completion_tokens"
    assert run.usage.completion_tokens <= 256


def test_last_messages_truncation_is_recorded(
    sdk: openai.OpenAI, api: BackgroundServer, geo: Assistant
) -> None:
    words = ["alpha", "beta", "gamma", "delta", "What was the last word I said before this?"]
    thread = sdk.beta.threads.create(messages=[{"role": "user", "content": w} for w in words])
    run = sdk.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=geo.id,
        truncation_strategy={"type": "last_messages", "last_messages": 2},
    )
    assert run.truncation_strategy.type == "last_messages"
    context = raw(api, "GET", f"/threads/{thread.id}/runs/{run.id}/context").json()
    ids = [m.id for m in sdk.beta.threads.messages.list(thread.id, order="asc").data]
    assert context["sent_message_ids"] == ids[3:5]
    assert context["omitted_message_ids"] == ids[:3]
    sent = raw(api, "GET", f"/threads/{thread.id}/runs/{run.id}/prompts").json()["data"][0]
    assert [m["content"] for m in sent["request"]["messages"][1:]] == words[3:]


def test_errors_are_openai_shaped(
    sdk: openai.OpenAI, api: BackgroundServer, geo: Assistant
) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.beta.threads.runs.retrieve("run_nope", thread_id="thread_nope")
    assert "No thread found" in missing.value.message or "No run found" in missing.value.message
    with pytest.raises(openai.BadRequestError) as bad:
        sdk.beta.assistants.create(model=MODEL_ID, temperature=3)
    assert bad.value.body["param"] == "temperature"
    unknown = raw(api, "POST", "/assistants", json={"model": MODEL_ID, "colour": "red"})
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "colour"
    too_many = raw(
        api,
        "POST",
        "/assistants",
        json={"model": MODEL_ID, "metadata": {str(i): "v" for i in range(17)}},
    )
    assert too_many.status_code == 400 and too_many.json()["error"]["param"] == "metadata"
    broken = raw(
        api, "POST", "/threads", content=b"[1,2", headers={"content-type": "application/json"}
    )
    assert broken.status_code == 400 and "error" in broken.json()


def test_each_key_sees_only_its_own_objects(embedded: EmbeddedBackend) -> None:
    shared = BackgroundServer(create_app(embedded, api_keys=("k-ana", "k-ben"))).start()
    try:
        ana = openai.OpenAI(base_url=shared.base_url, api_key="k-ana", max_retries=0)
        ben = openai.OpenAI(base_url=shared.base_url, api_key="k-ben", max_retries=0)
        thread = ana.beta.threads.create()
        with pytest.raises(openai.NotFoundError):
            ben.beta.threads.retrieve(thread.id)
        assert ana.beta.threads.retrieve(thread.id).id == thread.id
        ana.beta.assistants.create(model=MODEL_ID, name="ana's")
        assert ben.beta.assistants.list().data == []
    finally:
        shared.stop()


def test_restart_keeps_threads_and_fails_runs_in_flight(tmp_path: Path) -> None:
    """A real `nbext serve` is killed mid-run and started again on the same database."""
    env = {"NBEXT_DB_URL": f"sqlite:///{tmp_path / 'restart.sqlite3'}"}
    port = free_port()
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0)
    first = start_serve(env, port)
    try:
        tutor = client.beta.assistants.create(model=MODEL_ID)
        thread = client.beta.threads.create(
            messages=[{"role": "user", "content": "Write a long story about a lighthouse."}]
        )
        run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=tutor.id)
        wait_for_status(client, run, {"in_progress"})
    finally:
        first.kill()  # no clean shutdown: the run is left in_progress in the database
        first.wait(timeout=10)

    second = start_serve(env, port)
    try:
        assert client.beta.threads.retrieve(thread.id).id == thread.id
        texts = [m.content[0].text.value for m in client.beta.threads.messages.list(thread.id).data]
        assert texts == ["Write a long story about a lighthouse."]
        recovered = client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
        assert recovered.status == "failed" and recovered.last_error.code == "server_error"
        client.beta.threads.messages.create(thread.id, role="user", content="Still here?")
    finally:
        second.terminate()
        second.wait(timeout=10)


def test_auto_truncation_drops_the_middle_to_fit_max_prompt_tokens(
    sdk: openai.OpenAI, api: BackgroundServer, geo: Assistant
) -> None:
    filler = "This sentence is filler that only takes up room in the thread. " * 12
    contents = ["My name is Ada.", *[f"Note {i}: {filler}" for i in range(6)], "What is my name?"]
    thread = sdk.beta.threads.create(messages=[{"role": "user", "content": c} for c in contents])
    run = sdk.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=geo.id,
        max_prompt_tokens=600,
        truncation_strategy={"type": "auto"},
    )
    assert run.status in ("completed", "incomplete")
    ids = [m.id for m in sdk.beta.threads.messages.list(thread.id, order="asc").data]
    context = raw(api, "GET", f"/threads/{thread.id}/runs/{run.id}/context").json()
    assert context["omitted_message_ids"], "the filler cannot all fit in 600 tokens"
    assert ids[0] in context["sent_message_ids"] and ids[7] in context["sent_message_ids"]
    assert set(context["omitted_message_ids"]) <= set(ids[1:7])
    assert context["prompt_tokens"] <= 600


def test_create_thread_and_run_stream_starts_with_thread_created(
    sdk: openai.OpenAI, geo: Assistant
) -> None:
    events = sdk.beta.threads.create_and_run(
        assistant_id=geo.id,
        thread={"messages": [{"role": "user", "content": "Capital of Spain?"}]},
        stream=True,
    )
    names = [event.event for event in events]
    assert names[:2] == ["thread.created", "thread.run.created"]
    assert names[-1] == "thread.run.completed"


def test_run_metadata_can_be_modified_and_runs_listed(sdk: openai.OpenAI, geo: Assistant) -> None:
    thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
    first = sdk.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=geo.id, max_completion_tokens=256
    )
    updated = sdk.beta.threads.runs.update(first.id, thread_id=thread.id, metadata={"n": "1"})
    assert updated.metadata == {"n": "1"} and updated.status == first.status
    assert [r.id for r in sdk.beta.threads.runs.list(thread.id).data] == [first.id]
