"""Bad input is refused the way OpenAI refuses it: status, wording and ``param``."""

from __future__ import annotations

import pytest

from nbext.api.assistants.protocol import ASSISTANT_CREATE
from nbext.api.params import MESSAGE_CREATE
from nbext.api.runs.protocol import RUN_CREATE
from nbext.api.threads.protocol import THREAD_CREATE, THREAD_MODIFY
from nbext.store import ListQuery

from .helpers import OWNER, WEATHER, at_the_edge, error_of

MODEL = {"model": "scripted"}


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({}, "model", "missing_required_parameter"),
        ({**MODEL, "colour": "red"}, "colour", "unknown_parameter"),
        ({**MODEL, "name": "n" * 257}, "name", "string_above_max_length"),
        ({**MODEL, "description": "d" * 513}, "description", "string_above_max_length"),
        ({**MODEL, "instructions": "i" * 256_001}, "instructions", "string_above_max_length"),
        ({**MODEL, "temperature": 2.5}, "temperature", "decimal_above_max_value"),
        ({**MODEL, "top_p": -0.1}, "top_p", "decimal_below_min_value"),
        ({**MODEL, "temperature": "hot"}, "temperature", "invalid_type"),
        ({**MODEL, "tools": [WEATHER] * 129}, "tools", "array_above_max_length"),
        ({**MODEL, "tools": [{"type": "browser"}]}, "tools[0].type", "invalid_value"),
        (
            {**MODEL, "tools": [{"type": "function"}]},
            "tools[0].function",
            "missing_required_parameter",
        ),
        (
            {**MODEL, "tools": [{"type": "function", "function": {"name": "f", "x": 1}}]},
            "tools[0].function.x",
            "unknown_parameter",
        ),
        (
            {**MODEL, "metadata": {f"k{i}": "v" for i in range(17)}},
            "metadata",
            "object_above_max_size",
        ),
        ({**MODEL, "metadata": {"k" * 65: "v"}}, "metadata", "string_above_max_length"),
        ({**MODEL, "metadata": {"k": "v" * 513}}, "metadata.k", "string_above_max_length"),
        ({**MODEL, "response_format": "xml"}, "response_format", "invalid_value"),
    ],
)
def test_assistant_bodies(service, body, param, code):
    error = error_of(at_the_edge(service.assistants.create, ASSISTANT_CREATE), OWNER, body)
    assert (error.status, error.param, error.code) == (400, param, code)


def test_wording(service):
    create = at_the_edge(service.assistants.create, ASSISTANT_CREATE)
    error = error_of(create, OWNER, {**MODEL, "name": "n" * 300})
    assert error.message == (
        "Invalid 'name': string too long. Expected a string with maximum length 256, "
        "but got a string with length 300 instead."
    )
    assert error_of(create, OWNER, {**MODEL, "x": 1}).message == "Unknown parameter: 'x'."
    assert error_of(create, OWNER, []).status == 400


def test_limits_are_inclusive(service):
    body = {
        **MODEL,
        "name": "n" * 256,
        "tools": [WEATHER] * 128,
        "metadata": {f"k{i}": "v" * 512 for i in range(16)},
        "temperature": 2,
        "top_p": 0,
    }
    assert at_the_edge(service.assistants.create, ASSISTANT_CREATE)(OWNER, body).temperature == 2


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "assistant_id"),
        ({"max_prompt_tokens": 100}, "max_prompt_tokens"),
        ({"max_completion_tokens": 0}, "max_completion_tokens"),
        ({"tools": [WEATHER] * 21}, "tools"),
        ({"truncation_strategy": {"type": "middle"}}, "truncation_strategy.type"),
        (
            {"truncation_strategy": {"type": "last_messages", "last_messages": 0}},
            "truncation_strategy.last_messages",
        ),
        ({"truncation_strategy": {"type": "last_messages"}}, "truncation_strategy.last_messages"),
        ({"tool_choice": "always"}, "tool_choice"),
        ({"tool_choice": "required", "tools": []}, "tool_choice"),
        (
            {"additional_messages": [{"role": "system", "content": "x"}]},
            "additional_messages[0].role",
        ),
        (
            {"additional_messages": [{"role": "user", "content": []}]},
            "additional_messages[0].content",
        ),
        ({"stream": "yes"}, "stream"),
    ],
)
def test_run_bodies(service, assistant, body, param):
    thread = service.threads.create(OWNER)
    body = {"assistant_id": assistant.id, **body} if param != "assistant_id" else body
    error = error_of(at_the_edge(service.runs.create, RUN_CREATE), OWNER, thread.id, body)
    assert (error.status, error.param) == (400, param)


def test_message_and_thread_bodies(service):
    thread = service.threads.create(OWNER)
    create_message = at_the_edge(service.messages.create, MESSAGE_CREATE)
    error = error_of(create_message, OWNER, thread.id, {"role": "user"})
    assert error.param == "content"
    error = error_of(
        create_message,
        OWNER,
        thread.id,
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": "http://a/b", "detail": "max"}}],
        },
    )
    assert error.param == "content[0].image_url.detail"
    create_thread = at_the_edge(service.threads.create, THREAD_CREATE)
    error = error_of(create_thread, OWNER, {"messages": [{"role": "user", "content": 3}]})
    assert error.param == "messages[0].content"
    update_thread = at_the_edge(service.threads.update, THREAD_MODIFY)
    error = error_of(update_thread, OWNER, thread.id, {"messages": []})
    assert error.param == "messages"

    def list_messages(query):  # as the route parses the query string
        return service.messages.list(OWNER, thread.id, ListQuery.parse(query, extra=("run_id",)))

    error = error_of(list_messages, {"limit": 101})
    assert error.param == "limit"
    error = error_of(list_messages, {"order": "up"})
    assert error.param == "order"


def test_unknown_ids_are_404(service, assistant):
    thread = service.threads.create(OWNER)
    error = error_of(service.threads.retrieve, OWNER, "thread_nope")
    assert (error.status, error.message) == (404, "No thread found with id 'thread_nope'.")
    assert error_of(service.assistants.retrieve, OWNER, "asst_nope").status == 404
    assert error_of(service.messages.retrieve, OWNER, thread.id, "msg_nope").status == 404
    assert error_of(service.runs.retrieve, OWNER, thread.id, "run_nope").status == 404
    assert (
        error_of(service.runs.create, OWNER, thread.id, {"assistant_id": "asst_nope"}).status == 404
    )
    assert (
        error_of(service.runs.create, OWNER, "thread_nope", {"assistant_id": assistant.id}).status
        == 404
    )
    assert error_of(service.steps.list, OWNER, thread.id, "run_nope").status == 404
