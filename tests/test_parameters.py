"""Request parameters are honoured, refused, or forwarded; never silently dropped.

The embedded model (real llama.cpp, over real HTTP, with the ``openai`` SDK)
honours ``logprobs`` / ``top_logprobs``, the penalties and ``logit_bias``, and
answers what it cannot do with OpenAI's 400 ``unsupported_parameter`` /
``unsupported_value``. A remote backend gets every field as given. On the
Assistants side, ``reasoning_effort`` and ``rewrite_query: true`` are refused,
a vector store's ``description`` is accepted, and a file's ``expires_after``
becomes its ``expires_at``, after which the file is gone.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionTokenLogprob
from pinned_model import MODEL_ID

from nbext.api.files.protocol import parse_upload
from nbext.api.files.service import Files
from nbext.backends.aliases import ModelAliases
from nbext.backends.embedded import EmbeddedBackend, LogitBias
from nbext.backends.remote import RemoteBackend
from nbext.errors import APIError
from nbext.server.app import create_app
from nbext.server.runner import BackgroundServer
from nbext.store import Store

FRANCE = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
HELLOS = [{"role": "user", "content": "Write the word hello ten times, separated by spaces."}]


def token_id(embedded: EmbeddedBackend, text: str) -> int:
    """The one token that spells ``text`` in the model's vocabulary."""
    tokens = embedded.load().llm.tokenize(text.encode(), add_bos=False, special=False)
    assert len(tokens) == 1, f"{text!r} is {len(tokens)} tokens"
    return tokens[0]


def assert_consistent(entries: list[ChatCompletionTokenLogprob], text: str, top: int) -> None:
    """Entries spell the text; alternatives are sorted and, greedy, led by the chosen token."""
    assert "".join(e.token for e in entries) == text
    for entry in entries:
        assert entry.bytes == list(entry.token.encode()) and entry.logprob <= 0
        alternatives = [t.logprob for t in entry.top_logprobs]
        assert len(alternatives) == top and alternatives == sorted(alternatives, reverse=True)
        # Temperature 0 takes the most likely token: it heads its own alternatives.
        assert entry.top_logprobs[0].token == entry.token
        assert entry.top_logprobs[0].logprob == pytest.approx(entry.logprob)


# -- honoured by the embedded model ---------------------------------------------------------


def test_logprobs_with_top_alternatives(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model=MODEL_ID, messages=FRANCE, temperature=0, logprobs=True, top_logprobs=5
    )
    choice = completion.choices[0]
    assert "Paris" in choice.message.content
    assert_consistent(choice.logprobs.content, choice.message.content, 5)
    assert choice.logprobs.refusal is None


def test_streamed_logprobs_are_the_non_streamed_ones(client: openai.OpenAI) -> None:
    asked: dict[str, Any] = {
        "model": MODEL_ID,
        "messages": HELLOS,
        "temperature": 0,
        "max_tokens": 12,
        "logprobs": True,
        "top_logprobs": 3,
    }
    whole = client.chat.completions.create(**asked).choices[0]
    chunks = list(client.chat.completions.create(**asked, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    streamed = [
        e
        for c in chunks
        if c.choices and c.choices[0].logprobs
        for e in c.choices[0].logprobs.content
    ]
    for chunk in chunks:
        if chunk.choices and chunk.choices[0].delta.content:
            shown = "".join(e.token for e in chunk.choices[0].logprobs.content)
            assert shown == chunk.choices[0].delta.content  # each chunk carries its own tokens
    assert text == whole.message.content
    assert_consistent(streamed, text, 3)
    assert [e.token for e in streamed] == [e.token for e in whole.logprobs.content]
    assert [e.logprob for e in streamed] == pytest.approx(
        [e.logprob for e in whole.logprobs.content], abs=1e-4
    )


def test_no_logprobs_unless_asked(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model=MODEL_ID, messages=FRANCE, max_tokens=2)
    assert completion.choices[0].logprobs is None
    asked = client.chat.completions.create(
        model=MODEL_ID, messages=FRANCE, max_tokens=2, temperature=0, logprobs=True
    )
    assert all(e.top_logprobs == [] for e in asked.choices[0].logprobs.content)


def test_tool_call_markup_gets_no_logprobs(client: openai.OpenAI, weather_tool: dict) -> None:
    completion = client.chat.completions.create(
        model=MODEL_ID,
        messages=[{"role": "user", "content": "What's the weather in Paris?"}],
        tools=[weather_tool],
        tool_choice="required",
        temperature=0,
        logprobs=True,
    )
    choice = completion.choices[0]
    assert choice.message.tool_calls and not choice.message.content
    assert choice.logprobs.content == []


def test_logit_bias_minus_100_bans_the_greedy_token(
    client: openai.OpenAI, embedded: EmbeddedBackend
) -> None:
    plain = client.chat.completions.create(
        model=MODEL_ID, messages=FRANCE, temperature=0, logprobs=True, max_tokens=5
    ).choices[0]
    greedy = plain.logprobs.content[0].token
    banned = client.chat.completions.create(
        model=MODEL_ID,
        messages=FRANCE,
        temperature=0,
        logprobs=True,
        top_logprobs=20,
        max_tokens=5,
        logit_bias={str(token_id(embedded, greedy)): -100},
    ).choices[0]
    assert banned.message.content != plain.message.content
    first = banned.logprobs.content[0]
    assert first.token != greedy and greedy not in [t.token for t in first.top_logprobs]


def test_logit_bias_plus_100_forces_a_token(
    client: openai.OpenAI, embedded: EmbeddedBackend
) -> None:
    forced = client.chat.completions.create(
        model=MODEL_ID,
        messages=FRANCE,
        temperature=0,
        logprobs=True,
        max_tokens=3,
        logit_bias={str(token_id(embedded, "Yes")): 100},
    ).choices[0]
    assert forced.message.content == "YesYesYes" and forced.finish_reason == "length"
    assert all(e.token == "Yes" and e.logprob > -0.01 for e in forced.logprobs.content)


def test_frequency_penalty_breaks_a_repetition(client: openai.OpenAI) -> None:
    def hellos(**penalty: float) -> int:
        answer = client.chat.completions.create(
            model=MODEL_ID, messages=HELLOS, temperature=0, max_tokens=30, **penalty
        )
        return answer.choices[0].message.content.lower().count("hello")

    assert hellos(frequency_penalty=2.0) < hellos()


@pytest.fixture
def create_completion_spy(
    embedded: EmbeddedBackend, monkeypatch: pytest.MonkeyPatch
) -> list[dict[str, Any]]:
    """The keyword arguments each request passes to llama-cpp-python's ``create_completion``
    (which still runs: the real model answers)."""
    llm = embedded.load().llm
    calls: list[dict[str, Any]] = []
    real = llm.create_completion

    def spy(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(llm, "create_completion", spy)
    return calls


def test_penalties_and_bias_reach_llama_cpp(
    client: openai.OpenAI, create_completion_spy: list[dict[str, Any]]
) -> None:
    client.chat.completions.create(
        model=MODEL_ID,
        messages=FRANCE,
        max_tokens=2,
        presence_penalty=1.5,
        frequency_penalty=-0.5,
        logit_bias={"15": 3, "9707": -2.5},
    )
    (call,) = create_completion_spy
    assert call["presence_penalty"] == 1.5 and call["frequency_penalty"] == -0.5
    # The bias is a processor of the kit's: llama-cpp-python drops every processor
    # when it is given both (``list.extend`` returns None).
    assert "logit_bias" not in call
    (bias,) = [p for p in call["logits_processor"] if isinstance(p, LogitBias)]
    assert bias.biases == {15: 3.0, 9707: -2.5}


# -- checked as OpenAI checks them ------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
        ({"logprobs": True, "top_logprobs": -1}, "top_logprobs"),
        ({"top_logprobs": 2}, "top_logprobs"),  # without logprobs: true
        ({"frequency_penalty": 2.5}, "frequency_penalty"),
        ({"presence_penalty": -2.01}, "presence_penalty"),
        ({"logit_bias": {"42": 101}}, "logit_bias"),
        ({"logit_bias": {"42": -100.5}}, "logit_bias"),
        ({"logit_bias": {"hello": 1}}, "logit_bias"),
        ({"logit_bias": {"42": "up"}}, "logit_bias"),
        ({"logit_bias": {"151936": 1}}, "logit_bias"),  # past the model's vocabulary
        ({"n": 0}, "n"),
        ({"n": 129}, "n"),
    ],
)
def test_out_of_range_values_are_400(
    server: BackgroundServer, fields: dict[str, Any], param: str
) -> None:
    body = {"model": MODEL_ID, "messages": FRANCE, "max_tokens": 1, **fields}
    answer = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=60)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param


# -- refused by the embedded model ------------------------------------------------------------

REFUSED: list[tuple[str, Any, str]] = [
    ("n", 2, "unsupported_value"),
    ("reasoning_effort", "low", "unsupported_parameter"),
    ("audio", {"voice": "alloy", "format": "wav"}, "unsupported_parameter"),
    ("modalities", ["text", "audio"], "unsupported_value"),
    ("prediction", {"type": "content", "content": "Paris"}, "unsupported_parameter"),
    ("web_search_options", {}, "unsupported_parameter"),
    ("verbosity", "low", "unsupported_parameter"),
    ("functions", [{"name": "f", "parameters": {"type": "object"}}], "unsupported_parameter"),
    ("function_call", "auto", "unsupported_parameter"),
    ("store", True, "unsupported_value"),
    ("moderation", {"model": "omni-moderation-latest"}, "unsupported_parameter"),
]


@pytest.mark.parametrize(("param", "value", "code"), REFUSED)
@pytest.mark.parametrize("stream", [False, True])
def test_what_the_model_cannot_do_is_refused(
    client: openai.OpenAI, param: str, value: Any, code: str, stream: bool
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(
            model=MODEL_ID, messages=FRANCE, max_tokens=1, stream=stream, **{param: value}
        )
    assert raised.value.status_code == 400
    assert raised.value.code == code and raised.value.param == param
    assert param in raised.value.message


ACCEPTED: dict[str, Any] = {
    "user": "student-1",
    "safety_identifier": "hash-of-student-1",
    "metadata": {"course": "nbext"},
    "prompt_cache_key": "lesson-3",
    "prompt_cache_retention": "24h",
    "prompt_cache_options": {"mode": "implicit"},
    "service_tier": "auto",
    "store": False,
    "n": 1,
    "modalities": ["text"],
}


def test_fields_that_change_nothing_are_accepted(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model=MODEL_ID, messages=FRANCE, temperature=0, max_tokens=5, **ACCEPTED
    )
    assert "Paris" in completion.choices[0].message.content


# -- forwarded to a remote backend ------------------------------------------------------------


class RecordingEndpoint:
    """An OpenAI-compatible endpoint that records each request body and answers "recorded"."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                models = {"object": "list", "data": [_model("llama3.1:8b")]}
                self._send("application/json", json.dumps(models).encode())

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                endpoint.bodies.append(body)
                if not body.get("stream"):
                    self._send("application/json", json.dumps(_completion(body)).encode())
                    return
                chunk = {**_completion(body), "object": "chat.completion.chunk"}
                chunk["choices"] = [
                    {"index": 0, "delta": {"role": "assistant", "content": "recorded"}}
                ]
                usage = {**chunk, "choices": [], "usage": _completion(body)["usage"]}
                events = [json.dumps(chunk), json.dumps(usage), "[DONE]"]
                self._send("text/event-stream", "".join(f"data: {e}\n\n" for e in events).encode())

            def _send(self, kind: str, data: bytes) -> None:
                self.send_response(200)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/v1"


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "test"}


def _completion(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-recorded",
        "object": "chat.completion",
        "created": 0,
        "model": body["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "recorded"},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


@pytest.fixture
def recording_endpoint() -> Iterator[RecordingEndpoint]:
    endpoint = RecordingEndpoint()
    thread = threading.Thread(target=endpoint.http.serve_forever, daemon=True)
    thread.start()
    yield endpoint
    endpoint.http.shutdown()
    endpoint.http.server_close()


@pytest.fixture
def proxy(recording_endpoint: RecordingEndpoint) -> Iterator[openai.OpenAI]:
    """An nbext server whose backend is the recording endpoint, ``gpt-4o`` aliased."""
    backend = RemoteBackend(recording_endpoint.url, None, None)
    app = create_app(backend, model_aliases=ModelAliases.parse("gpt-4o=llama3.1:8b"))
    running = BackgroundServer(app).start()
    yield openai.OpenAI(base_url=running.base_url, api_key="x", max_retries=0)
    running.stop()


EVERY_EXTRA: dict[str, Any] = {
    **{param: value for param, value, _ in REFUSED},
    **ACCEPTED,
    "store": True,
    "n": 2,
    "logprobs": True,
    "top_logprobs": 3,
    "frequency_penalty": 0.5,
    "presence_penalty": -0.5,
    "logit_bias": {"42": -100, "7": 12.5},
    "seed": 7,
}


@pytest.mark.parametrize("stream", [False, True])
def test_a_remote_backend_gets_every_field_as_given(
    proxy: openai.OpenAI, recording_endpoint: RecordingEndpoint, stream: bool
) -> None:
    answer = proxy.chat.completions.create(
        model="gpt-4o", messages=FRANCE, stream=stream, **EVERY_EXTRA
    )
    if stream:
        assert "".join(c.choices[0].delta.content or "" for c in answer if c.choices) == "recorded"
    else:
        assert answer.choices[0].message.content == "recorded"
    (sent,) = recording_endpoint.bodies
    assert sent["model"] == "llama3.1:8b"  # the alias still applies
    assert sent["messages"] == FRANCE
    assert {k: sent.get(k) for k in EVERY_EXTRA} == EVERY_EXTRA


# -- the Assistants side ----------------------------------------------------------------------


def test_reasoning_effort_is_refused_on_assistants_and_runs(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.beta.assistants.create(model=MODEL_ID, reasoning_effort="low")
    assert raised.value.code == "unsupported_parameter"
    assert raised.value.param == "reasoning_effort"
    assistant = client.beta.assistants.create(model=MODEL_ID, reasoning_effort=None)
    with pytest.raises(openai.BadRequestError) as raised:
        client.beta.assistants.update(assistant.id, reasoning_effort="high")
    assert raised.value.code == "unsupported_parameter"
    thread = client.beta.threads.create()
    with pytest.raises(openai.BadRequestError) as raised:
        client.beta.threads.runs.create(
            thread.id, assistant_id=assistant.id, reasoning_effort="medium"
        )
    assert raised.value.code == "unsupported_parameter"
    assert client.beta.threads.runs.list(thread.id).data == []  # refused before any run


def test_vector_store_description_and_rewrite_query(client: openai.OpenAI) -> None:
    store = client.vector_stores.create(name="notes", description="Lecture notes on rivers.")
    assert store.name == "notes"  # the VectorStore object has no description field to echo
    page = client.vector_stores.search(store.id, query="rivers", rewrite_query=False)
    assert page.data == []
    with pytest.raises(openai.BadRequestError) as raised:
        client.vector_stores.search(store.id, query="rivers", rewrite_query=True)
    assert raised.value.code == "unsupported_value"
    assert raised.value.param == "rewrite_query"


def test_file_expires_after_sets_expires_at(client: openai.OpenAI) -> None:
    file = client.files.create(
        file=("notes.txt", b"The Seine flows through Paris."),
        purpose="assistants",
        expires_after={"anchor": "created_at", "seconds": 3600},
    )
    assert file.expires_at == file.created_at + 3600
    assert client.files.retrieve(file.id).expires_at == file.expires_at
    for seconds in (3599, 2_592_001):
        with pytest.raises(openai.BadRequestError) as raised:
            client.files.create(
                file=("notes.txt", b"x"),
                purpose="assistants",
                expires_after={"anchor": "created_at", "seconds": seconds},
            )
        assert raised.value.param == "expires_after.seconds"


@pytest.fixture
def settable_clock() -> Callable[..., float]:
    """A clock the test moves forward (``clock(advance=seconds)``)."""
    now = [1_800_000_000.0]

    def clock(advance: float = 0) -> float:
        now[0] += advance
        return now[0]

    return clock


def test_an_expired_file_is_gone(tmp_path: Path, settable_clock: Callable[..., float]) -> None:
    files = Files(Store("sqlite://"), tmp_path, clock=settable_clock)
    upload = parse_upload(
        "a.txt", b"abc", "assistants", {"anchor": "created_at", "seconds": 3600}, max_bytes=100
    )
    kept = files.create("me", parse_upload("b.txt", b"b", "assistants", None, max_bytes=100))
    expiring = files.create("me", upload)
    settable_clock(advance=3599)
    assert files.content("me", expiring.id)[1] == b"abc"
    settable_clock(advance=1)
    for lookup in (files.retrieve, files.content):
        with pytest.raises(APIError) as raised:
            lookup("me", expiring.id)
        assert raised.value.status == 404
    assert files.find("me", expiring.id) is None
    assert [f.id for f in files.list("me").data] == [kept.id]
    assert not files.path(expiring.id).exists()  # listing deleted it for good
