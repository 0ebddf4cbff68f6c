"""A client nobody here wrote: LangChain's ``ChatOpenAI`` against ``/v1/chat/completions``.

``langchain-openai`` builds its own requests (its own defaults, ``stream_options``
for usage, tools in its own conversion) and parses the answers into its own
message types, so what passes here is the server's wire format, not a shared
assumption between the kit and its tests.
"""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pinned_model import MODEL_ID

from nbext.server.runner import BackgroundServer

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

FRANCE = "What is the capital of France? Answer in one word."
PARIS_WEATHER = "What's the weather in Paris?"


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return '{"temperature_c": 21, "sky": "sunny"}'


@pytest.fixture(scope="module")
def chat(server: BackgroundServer) -> ChatOpenAI:
    return ChatOpenAI(
        base_url=server.base_url,
        api_key="unused",
        model=MODEL_ID,
        temperature=0,
        max_tokens=40,
        max_retries=0,
        stream_usage=True,
    )


def test_invoke_answers_with_usage(chat: ChatOpenAI) -> None:
    reply = chat.invoke(FRANCE)
    assert "Paris" in reply.content
    assert reply.response_metadata["finish_reason"] == "stop"
    assert reply.response_metadata["model_name"] == MODEL_ID
    usage = reply.usage_metadata
    assert usage and usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def test_stream_yields_text_chunks_and_usage(chat: ChatOpenAI) -> None:
    chunks = list(chat.stream(FRANCE))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert len([c for c in chunks if c.content]) >= 1
    whole = sum(chunks[1:], chunks[0])
    assert "Paris" in whole.content
    # stream_usage=True asks for stream_options.include_usage: one usage chunk at the end.
    assert whole.usage_metadata and whole.usage_metadata["output_tokens"] >= 1


def test_forced_tool_call(chat: ChatOpenAI) -> None:
    reply = chat.bind_tools([get_weather], tool_choice="get_weather").invoke(PARIS_WEATHER)
    (call,) = reply.tool_calls
    assert call["name"] == "get_weather" and call["args"] == {"city": "Paris"}
    assert call["id"] and reply.response_metadata["finish_reason"] == "tool_calls"


def test_streamed_tool_call_is_reassembled(chat: ChatOpenAI) -> None:
    chunks = list(chat.bind_tools([get_weather], tool_choice="any").stream(PARIS_WEATHER))
    whole = sum(chunks[1:], chunks[0])
    (call,) = whole.tool_calls
    assert call["name"] == "get_weather" and call["args"] == {"city": "Paris"}
    assert not whole.invalid_tool_calls


def test_tool_result_round_trip(chat: ChatOpenAI) -> None:
    question = HumanMessage(PARIS_WEATHER)
    asked = chat.bind_tools([get_weather], tool_choice="get_weather").invoke([question])
    (call,) = asked.tool_calls
    result = ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"])
    answer = chat.bind_tools([get_weather]).invoke([question, asked, result])
    assert "21" in answer.content and not answer.tool_calls
