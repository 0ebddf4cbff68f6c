"""nbext on a backend nobody here wrote: llama-cpp-python's own OpenAI-compatible server.

``python -m llama_cpp.server`` (the ``[server]`` extra of the pinned
llama-cpp-python) serves the embedded model's GGUF file with the GGUF's own
chat template (Qwen's, with tools: no ``--chat_format``, which would replace
it). ``nbext serve`` is pointed at it with ``NBEXT_BACKEND_URL``, exactly as a
user would configure it, and everything goes through the ``openai`` SDK.

What that server does differently from OpenAI, and nbext smooths over
(:mod:`nbext.backends.remote`): streams carry no ``usage`` chunk even when
asked; a streamed tool call repeats its id and name in every chunk; tool
calls are structured only for a ``tool_choice`` naming one function (with
``auto`` or ``required`` the model writes them out as text). The Assistants
function round therefore names the function in ``tool_choice``, the one form
that server constrains by grammar, so the call does not depend on the small
model's good will; a written-out call is tested through Chat Completions.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from api_helpers import EventRecorder, assert_answered_from_the_output, free_port, start_serve
from openai.types.beta import Assistant
from openai.types.chat import ChatCompletionChunk
from pinned_model import TEST_MODEL

from nbext.backends.model_file import ensure_model_file
from nbext.backends.remote import RemoteBackend
from nbext.config import Settings

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

USER = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
WEATHER_QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]
FORCED_WEATHER = {"type": "function", "function": {"name": "get_weather"}}
_START_TIMEOUT_S = 180.0


@pytest.fixture(scope="session")
def gguf() -> Path:
    """The embedded model's file, from the tests' home (a link to the user's model cache)."""
    return ensure_model_file(Settings.from_env().model_dir, TEST_MODEL, progress=False)


@pytest.fixture(scope="session")
def llama_server(gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m llama_cpp.server`` on the GGUF; yields its base URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(gguf),
                "--n_ctx",
                "4096",
                "--n_threads",
                "2",
                "--n_threads_batch",
                "2",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            try:
                if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"llama_cpp.server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def nbext_url(llama_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``nbext serve`` with ``NBEXT_BACKEND_URL`` pointing at the llama.cpp server."""
    port = free_port()
    db = tmp_path_factory.mktemp("third-party") / "nbext.sqlite3"
    process = start_serve(
        {"NBEXT_BACKEND_URL": llama_server, "NBEXT_DB_URL": f"sqlite:///{db}"}, port
    )
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def sdk(nbext_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=nbext_url, api_key="local", max_retries=0)


@pytest.fixture(scope="module")
def geo(sdk: openai.OpenAI) -> Assistant:
    # An OpenAI model name, as tutorials have it: a remote backend gets it passed
    # through, and llama_cpp.server serves its one model whatever the name.
    return sdk.beta.assistants.create(
        model="gpt-4o-mini",
        instructions="You answer geography questions in one short sentence.",
        temperature=0,
    )


def _get(nbext_url: str, path: str) -> dict:
    response = httpx.get(f"{nbext_url}{path}", timeout=60)
    response.raise_for_status()
    return response.json()


# -- Chat Completions ---------------------------------------------------------


def test_the_backend_is_llama_cpp_python_serving_the_gguf(
    sdk: openai.OpenAI, llama_server: str, gguf: Path
) -> None:
    # The model list is the third-party server's: its model is named by the GGUF's path.
    assert [m.id for m in sdk.models.list()] == [str(gguf)]
    assert httpx.get(f"{llama_server}/models").json()["data"][0]["owned_by"] == "me"
    status = _get(str(sdk.base_url).rstrip("/"), "/nbext/status")
    assert status["backend"] == f"OpenAI-compatible endpoint {llama_server}"
    assert status["token_counting"] == "tokenizer"  # the GGUF is in NBEXT_HOME/models


def test_chat_completion_with_usage(sdk: openai.OpenAI) -> None:
    completion = sdk.chat.completions.create(model="gpt-4o", messages=USER, temperature=0)
    assert "Paris" in completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    usage = completion.usage
    assert usage.prompt_tokens > 10 and usage.completion_tokens >= 1
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_streamed_chat_completion_ends_with_a_usage_chunk(sdk: openai.OpenAI) -> None:
    chunks = list(
        sdk.chat.completions.create(
            model="gpt-4o",
            messages=USER,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Paris" in text
    # llama_cpp.server sends no usage chunk: nbext adds it, counted with the model's
    # tokenizer, and it agrees with what the server reports for the same request.
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    reported = sdk.chat.completions.create(model="gpt-4o", messages=USER, temperature=0).usage
    assert chunks[-1].usage.prompt_tokens == reported.prompt_tokens
    assert chunks[-1].usage.completion_tokens == reported.completion_tokens
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_streamed_forced_tool_call_names_the_function_once(
    sdk: openai.OpenAI, weather_tool: dict
) -> None:
    stream = sdk.chat.completions.create(
        model="gpt-4o",
        messages=WEATHER_QUESTION,
        tools=[weather_tool],
        tool_choice=FORCED_WEATHER,
        temperature=0,
        stream=True,
    )
    calls = [call for chunk in stream for call in chunk.choices[0].delta.tool_calls or []]
    # llama_cpp.server repeats id and name in every chunk; clients concatenate names.
    assert [c.function.name for c in calls if c.function and c.function.name] == ["get_weather"]
    assert len({c.id for c in calls if c.id}) == 1
    arguments = "".join(c.function.arguments or "" for c in calls if c.function)
    assert json.loads(arguments) == {"city": "Paris"}


@pytest.mark.parametrize("stream", [False, True], ids=["created", "streamed"])
def test_a_call_repeating_a_held_result_is_asked_again_for_an_answer(
    sdk: openai.OpenAI, weather_tool: dict, stream: bool
) -> None:
    # Given the result, this model calls get_weather("Paris") again (measured at
    # temperature 0): nbext asks the endpoint again, without tools, for the answer.
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    messages = [
        *WEATHER_QUESTION,
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temperature_c": 21}'},
    ]
    request = {"model": "gpt-4o", "messages": messages, "tools": [weather_tool], "temperature": 0}
    if stream:
        chunks = list(sdk.chat.completions.create(**request, stream=True))
        deltas = [c.choices[0].delta for c in chunks if c.choices]
        text = "".join(d.content or "" for d in deltas)
        assert not any(d.tool_calls for d in deltas)
    else:
        message = sdk.chat.completions.create(**request).choices[0].message
        text = message.content or ""
        assert not message.tool_calls
    assert "21" in text


def test_a_written_out_tool_call_comes_back_structured(
    sdk: openai.OpenAI, weather_tool: dict
) -> None:
    # With tool_choice "required" llama_cpp.server only renders the tools into the
    # prompt; this model then writes the call as text, which nbext reads back.
    completion = sdk.chat.completions.create(
        model="gpt-4o",
        messages=WEATHER_QUESTION,
        tools=[weather_tool],
        tool_choice="required",
        temperature=0,
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls[0].function.name == "get_weather"
    assert json.loads(choice.message.tool_calls[0].function.arguments) == {"city": "Paris"}
    assert not choice.message.content


# -- Assistants -----------------------------------------------------------------


def test_assistants_flow_runs_to_completed_with_steps(
    sdk: openai.OpenAI, nbext_url: str, geo: Assistant
) -> None:
    thread = sdk.beta.threads.create()
    sdk.beta.threads.messages.create(
        thread.id, role="user", content="What is the capital of Italy?"
    )
    run = sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=geo.id)
    assert run.status == "completed", run.last_error
    assert run.model == "gpt-4o-mini" and run.usage.total_tokens > 0
    messages = sdk.beta.threads.messages.list(thread.id, order="asc").data
    assert [m.role for m in messages] == ["user", "assistant"]
    assert "Rome" in messages[1].content[0].text.value
    steps = sdk.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert [s.type for s in steps] == ["message_creation"]
    assert steps[0].step_details.message_creation.message_id == messages[1].id
    assert steps[0].usage.prompt_tokens == run.usage.prompt_tokens

    prompts = _get(nbext_url, f"/threads/{thread.id}/runs/{run.id}/prompts")["data"]
    assert prompts[0]["request"]["model"] == "gpt-4o-mini"
    assert prompts[0]["usage"]["prompt_tokens"] == run.usage.prompt_tokens


def test_function_tool_round(sdk: openai.OpenAI, weather_tool: dict) -> None:
    forecaster = sdk.beta.assistants.create(
        model="gpt-4o-mini",
        instructions="Use the tools to answer.",
        tools=[weather_tool],
        temperature=0,
    )
    run = sdk.beta.threads.create_and_run_poll(
        assistant_id=forecaster.id,
        thread={"messages": WEATHER_QUESTION},
        tool_choice=FORCED_WEATHER,
    )
    assert run.status == "requires_action", run.last_error
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [c.function.name for c in calls] == ["get_weather"]
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}
    assert_answered_from_the_output(sdk, run)


def test_streamed_run(sdk: openai.OpenAI, geo: Assistant) -> None:
    thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "Capital of Spain?"}])
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
    for expected in ("thread.message.created", "thread.message.delta", "thread.run.step.completed"):
        assert expected in handler.names
    assert "Madrid" in "".join(handler.text)
    assert final.status == "completed" and final.usage.completion_tokens > 0


def test_streamed_run_with_a_function_call(sdk: openai.OpenAI, weather_tool: dict) -> None:
    forecaster = sdk.beta.assistants.create(
        model="gpt-4o-mini", tools=[weather_tool], temperature=0
    )
    thread = sdk.beta.threads.create(messages=WEATHER_QUESTION)
    handler = EventRecorder()
    with sdk.beta.threads.runs.stream(
        thread_id=thread.id,
        assistant_id=forecaster.id,
        tool_choice=FORCED_WEATHER,
        event_handler=handler,
    ) as stream:
        stream.until_done()
        paused = stream.get_final_run()
    assert paused.status == "requires_action", paused.last_error
    # Named in one step delta, though llama_cpp.server repeats the name in every chunk.
    assert handler.tool_call_names == ["get_weather"]
    call = paused.required_action.submit_tool_outputs.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}


# -- token counting ---------------------------------------------------------------


def test_context_counts_with_the_models_tokenizer(
    sdk: openai.OpenAI, nbext_url: str, geo: Assistant
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
    assert run.status in ("completed", "incomplete"), run.last_error
    context = _get(nbext_url, f"/threads/{thread.id}/runs/{run.id}/context")
    # The remote serves a catalogue model whose GGUF is here: its own tokenizer counts.
    assert context["token_counting"] == "tokenizer"
    assert context["omitted_message_ids"], "the filler cannot all fit in 600 tokens"
    assert context["prompt_tokens"] <= 600
    # ...and it counts what the backend counted: the prompt the run sent, token for token.
    prompts = _get(nbext_url, f"/threads/{thread.id}/runs/{run.id}/prompts")["data"]
    assert context["prompt_tokens"] == prompts[0]["usage"]["prompt_tokens"]


def test_without_the_tokenizer_counts_follow_the_reported_usage(llama_server: str) -> None:
    # No model directory: the served model cannot be matched to a local GGUF.
    remote = RemoteBackend(llama_server, None, None)
    long_messages = [{"role": "user", "content": "Bonjour, comment ça va ? " * 20}]
    assert remote.token_counting == "estimate"
    estimate = remote.count_tokens(long_messages)
    reported = remote.create({"model": "x", "messages": long_messages, "max_tokens": 1}).usage
    assert remote.token_counting == "usage"
    assert remote.count_tokens(long_messages) == reported.prompt_tokens
    assert estimate != reported.prompt_tokens  # characters/4 was off for this text


def _chunk(
    delta: dict, finish_reason: str | None = None, usage: dict | None = None
) -> ChatCompletionChunk:
    choices = [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
    return ChatCompletionChunk.model_validate(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "choices": choices,
            **({"usage": usage} if usage else {}),
        }
    )


def test_a_written_out_call_streamed_before_the_usage_chunk(weather_tool: dict) -> None:
    """Wire data, no server: a written-out call is only known at the end of the text,
    so the finish chunk is held back; the endpoint's usage chunk must still come last."""
    text = '```json\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n```'
    usage = {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70}
    endpoint = [
        _chunk({"role": "assistant"}),
        *(_chunk({"content": text[i : i + 7]}) for i in range(0, len(text), 7)),
        _chunk({}, "stop"),
        _chunk({}, usage=usage),
    ]
    body = {"model": "m", "messages": WEATHER_QUESTION, "tools": [weather_tool]}
    remote = RemoteBackend("http://127.0.0.1:9/v1", None, "m")
    chunks = list(remote._normalized(body, iter(endpoint), answer_repeats=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ""
    calls = [call for c in chunks if c.choices for call in c.choices[0].delta.tool_calls or []]
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("get_weather", {"city": "Oslo"})
    ]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert chunks[-1].choices == [] and chunks[-1].usage.model_dump() == {
        **usage,
        "completion_tokens_details": None,
        "prompt_tokens_details": None,
    }
    assert remote.token_counting == "usage"
