"""The embedded model behind the backend contract (real model, no HTTP)."""

from __future__ import annotations

import json
import threading

import pytest

from nbext.backends.embedded import EmbeddedBackend
from nbext.backends.model_file import GGUF_SIZE, MODEL_ID, ensure_model_file
from nbext.config import Settings
from nbext.errors import APIError


def ask(backend: EmbeddedBackend, content: str, **params: object) -> str:
    completion = backend.create(
        {
            "model": MODEL_ID,
            "messages": [{"role": "user", "content": content}],
            "temperature": 0,
            **params,
        }  # type: ignore[typeddict-item]
    )
    return completion.choices[0].message.content or ""


def test_model_file_is_assembled_and_verified_once() -> None:
    path = ensure_model_file(Settings.from_env().model_dir, progress=False)
    assert path.stat().st_size == GGUF_SIZE


def test_answers_a_factual_question(embedded: EmbeddedBackend) -> None:
    assert "Paris" in ask(embedded, "What is the capital of France? Answer in one word.")


def test_forced_tool_call_has_schema_valid_arguments(
    embedded: EmbeddedBackend, weather_tool: dict
) -> None:
    completion = embedded.create(
        {
            "model": MODEL_ID,
            "messages": [{"role": "user", "content": "What's the weather like in Paris today?"}],
            "tools": [weather_tool],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "temperature": 0,
        }
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}


def test_tool_choice_none_never_calls(embedded: EmbeddedBackend, weather_tool: dict) -> None:
    completion = embedded.create(
        {
            "model": MODEL_ID,
            "messages": [{"role": "user", "content": "What's the weather like in Paris?"}],
            "tools": [weather_tool],
            "tool_choice": "none",
            "temperature": 0,
            "max_tokens": 30,
        }
    )
    assert completion.choices[0].message.tool_calls is None


def test_json_schema_response_format_is_obeyed(embedded: EmbeddedBackend) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    text = ask(
        embedded,
        "Ada Lovelace was 36. Describe her as JSON.",
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": schema},
        },
    )
    value = json.loads(text)
    assert set(value) == {"name", "age"} and isinstance(value["age"], int)


def test_max_tokens_stops_with_length_and_counts_usage(embedded: EmbeddedBackend) -> None:
    completion = embedded.create(
        {
            "model": MODEL_ID,
            "messages": [{"role": "user", "content": "Write a long poem about the sea."}],
            "max_tokens": 5,
            "temperature": 0,
        }
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 5
    assert completion.usage.prompt_tokens == embedded.count_tokens(
        [{"role": "user", "content": "Write a long poem about the sea."}]
    )


def test_stop_sequence_ends_the_answer(embedded: EmbeddedBackend) -> None:
    text = ask(embedded, "Count from 1 to 10, separated by commas.", stop=["5"])
    assert "5" not in text and "4" in text


def test_same_seed_same_answer(embedded: EmbeddedBackend) -> None:
    params = {"temperature": 1.0, "seed": 42, "max_tokens": 20}
    assert ask(embedded, "Name a colour.", **params) == ask(embedded, "Name a colour.", **params)


def test_stream_ends_with_usage_chunk(embedded: EmbeddedBackend) -> None:
    chunks = list(
        embedded.stream(
            {
                "model": MODEL_ID,
                "messages": [{"role": "user", "content": "Say hi."}],
                "max_tokens": 8,
            }
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason in ("stop", "length")
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens >= 1


def test_concurrent_requests_queue_and_all_succeed(embedded: EmbeddedBackend) -> None:
    answers: list[str] = []

    def worker() -> None:
        answers.append(ask(embedded, "What is 2+2? Answer with the number only.", max_tokens=5))

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 3 and all("4" in a for a in answers)


def test_unknown_model_is_a_404_naming_the_fix(embedded: EmbeddedBackend) -> None:
    with pytest.raises(APIError) as raised:
        list(embedded.stream({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}))
    assert raised.value.status == 404 and "NBEXT_BACKEND_URL" in raised.value.message


def test_prompt_longer_than_the_context_is_refused(embedded: EmbeddedBackend) -> None:
    small = EmbeddedBackend(Settings.from_env().model_dir, context_window=embedded.context_window)
    huge = "word " * (embedded.context_window + 10)
    with pytest.raises(APIError) as raised:
        small.create({"model": MODEL_ID, "messages": [{"role": "user", "content": huge}]})
    assert raised.value.code == "context_length_exceeded"


def test_token_counts_add_up_even_for_an_empty_prompt(
    embedded: EmbeddedBackend, weather_tool: dict
) -> None:
    hello = [{"role": "user", "content": "Hello there"}]
    empty = embedded.count_tokens([])
    assert 0 < empty < embedded.count_tokens(hello)
    assert embedded.count_tokens([], [weather_tool]) > empty
