"""``/v1/chat/completions`` and ``/v1/models`` over real HTTP, with the real SDK."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from openapi_contract import assert_response, assert_valid, response_schema
from pinned_model import MODEL_ID

from nbext.backends.embedded import EmbeddedBackend
from nbext.backends.remote import RemoteBackend
from nbext.errors import BackendError
from nbext.server.app import create_app
from nbext.server.runner import BackgroundServer

USER = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]


def test_non_streaming_completion_answers_paris(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model=MODEL_ID, messages=USER, temperature=0)
    assert "Paris" in completion.choices[0].message.content
    assert completion.object == "chat.completion"
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


def test_streaming_with_usage_as_the_sdk_parses_it(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=MODEL_ID,
        messages=USER,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Paris" in text
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens >= 1
    assert {c.id for c in chunks} == {chunks[0].id}


def test_streaming_without_include_usage_sends_no_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(model=MODEL_ID, messages=USER, stream=True, max_tokens=3)
    )
    assert all(c.choices for c in chunks) and all(c.usage is None for c in chunks)


def test_forced_tool_call_through_the_sdk(client: openai.OpenAI, weather_tool: dict) -> None:
    completion = client.chat.completions.create(
        model=MODEL_ID,
        messages=[{"role": "user", "content": "What's the weather in Paris?"}],
        tools=[weather_tool],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        temperature=0,
    )
    call = completion.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}


def test_streamed_tool_call_is_reassembled_by_the_sdk_helper(
    client: openai.OpenAI, weather_tool: dict
) -> None:
    with client.chat.completions.stream(
        model=MODEL_ID,
        messages=[{"role": "user", "content": "What's the weather in Paris?"}],
        tools=[weather_tool],
        tool_choice="required",
        temperature=0,
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].finish_reason == "tool_calls"
    assert json.loads(final.choices[0].message.tool_calls[0].function.arguments)["city"] == "Paris"


def test_tool_result_round_trip(client: openai.OpenAI, weather_tool: dict) -> None:
    messages = [
        {"role": "user", "content": "What's the weather in Paris?"},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "call_1",
            "content": '{"temperature_c": 21, "sky": "sunny"}',
        },
    ]
    completion = client.chat.completions.create(
        model=MODEL_ID, messages=messages, tools=[weather_tool], temperature=0
    )
    assert "21" in (completion.choices[0].message.content or "")


def test_models_are_listed_and_retrievable(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == [MODEL_ID]
    assert client.models.retrieve(MODEL_ID).id == MODEL_ID
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("llama-3-70b")


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"temperature": 3}, "temperature"),
        ({"messages": []}, "messages"),
        ({"bogus_field": 1}, "bogus_field"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
    ],
)
def test_bad_requests_are_400_with_param(server: BackgroundServer, extra: dict, param: str) -> None:
    body = {"model": MODEL_ID, "messages": USER, **extra}
    response = httpx.post(f"{server.base_url}/chat/completions", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"].startswith(param)


def test_unknown_model_is_404_in_openai_shape(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="llama-3-70b", messages=USER, stream=True)
    assert raised.value.body["code"] == "model_not_found"


def test_unknown_route_and_broken_json_answer_openai_errors(server: BackgroundServer) -> None:
    missing = httpx.get(f"{server.base_url}/nothing-here")
    assert missing.status_code == 404 and "Invalid URL" in missing.json()["error"]["message"]
    broken = httpx.post(
        f"{server.base_url}/chat/completions",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert broken.status_code == 400 and "error" in broken.json()


@pytest.mark.parametrize("route", ["chat/completions", "threads", "assistants", "vector_stores"])
@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"name": "caf\xe9"}', "UTF-8"),  # Latin-1, not UTF-8
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"a": ' * 50_000 + b"1" + b"}" * 50_000, "nested too deeply"),
    ],
)
def test_hostile_bodies_get_a_400_not_a_500(
    server: BackgroundServer, route: str, body: bytes, says: str
) -> None:
    """Found by hand and by schema fuzzing: these were 500s (UnicodeDecodeError, RecursionError)."""
    answer = httpx.post(
        f"{server.base_url}/{route}", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and says in error["message"]


def test_parallel_clients_are_queued_not_failed(client: openai.OpenAI) -> None:
    def ask(_: int) -> str:
        reply = client.chat.completions.create(
            model=MODEL_ID, messages=[{"role": "user", "content": "Say OK."}], max_tokens=4
        )
        return reply.choices[0].finish_reason

    with ThreadPoolExecutor(4) as pool:
        assert all(reason in ("stop", "length") for reason in pool.map(ask, range(4)))


def test_a_keyed_server_refuses_missing_and_wrong_keys(embedded: EmbeddedBackend) -> None:
    keyed = BackgroundServer(create_app(embedded, api_keys=("k-alice", "k-bob"))).start()
    try:
        wrong = openai.OpenAI(base_url=keyed.base_url, api_key="nope", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            wrong.models.list()
        missing = httpx.get(f"{keyed.base_url}/models")
        assert missing.status_code == 401 and missing.json()["error"]["code"] == "missing_api_key"
        right = openai.OpenAI(base_url=keyed.base_url, api_key="k-bob", max_retries=0)
        assert right.models.list().data[0].id == MODEL_ID
    finally:
        keyed.stop()


def test_remote_backend_speaks_to_any_openai_compatible_server(server: BackgroundServer) -> None:
    remote = RemoteBackend(server.base_url, "unused", None)
    assert remote.default_model == MODEL_ID
    completion = remote.create({"model": "default", "messages": USER, "temperature": 0})
    assert "Paris" in completion.choices[0].message.content
    chunks = list(remote.stream({"model": "default", "messages": USER, "max_tokens": 3}))
    assert chunks[-1].usage is not None


def test_remote_backend_reports_a_dead_endpoint_with_the_fix() -> None:
    dead = RemoteBackend("http://127.0.0.1:9/v1", None, "m", timeout=2)
    with pytest.raises(BackendError) as raised:
        dead.create({"model": "m", "messages": USER})
    assert raised.value.status == 503 and "NBEXT_BACKEND_URL" in raised.value.message


def test_a_server_over_a_dead_backend_answers_503(server: BackgroundServer) -> None:
    proxy = BackgroundServer(create_app(RemoteBackend("http://127.0.0.1:9/v1", None, "m"))).start()
    try:
        client = openai.OpenAI(base_url=proxy.base_url, api_key="x", max_retries=0)
        with pytest.raises(openai.InternalServerError) as raised:
            client.chat.completions.create(model="m", messages=USER)
        assert raised.value.status_code == 503
        assert raised.value.body["code"] == "backend_unreachable"
    finally:
        proxy.stop()


def test_responses_match_the_published_openapi_contract(server: BackgroundServer) -> None:
    body = {"model": MODEL_ID, "messages": USER, "temperature": 0, "max_tokens": 5}
    completion = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=60)
    assert_response("post", "/chat/completions", completion.json())

    stream_schema = response_schema("post", "/chat/completions", "text/event-stream")
    with httpx.stream(
        "POST",
        f"{server.base_url}/chat/completions",
        json={**body, "stream": True, "stream_options": {"include_usage": True}},
        timeout=60,
    ) as events:
        payloads = [
            line.removeprefix("data: ") for line in events.iter_lines() if line.startswith("data: ")
        ]
    assert payloads[-1] == "[DONE]"
    for payload in payloads[:-1]:
        assert_valid(stream_schema, json.loads(payload))

    assert_response("get", "/models", httpx.get(f"{server.base_url}/models").json())
