"""Turning a run into Chat Completions requests: the translation the Assistants API hides.

A run's first request is: the instructions as a system message, the thread
messages the context-window policy kept, and the run's tools. Each later
request of the same run is the previous one plus what the model answered
and the tool outputs: exactly the conversation a Chat Completions user
would have had to assemble by hand.
"""

from __future__ import annotations

from typing import Any, cast

from openai.types.beta import AssistantTool
from openai.types.beta.threads import Message, Run
from openai.types.chat import (
    ChatCompletionMessageParam,
    ChatCompletionToolParam,
    ChatCompletionUserMessageParam,
)
from openai.types.shared_params import FunctionDefinition

from nbext.backends.base import ChatRequest
from nbext.store.records import RunPrompt
from nbext.tools.registry import ToolRegistry


def chat_message(message: Message) -> ChatCompletionMessageParam:
    """A thread message as a Chat Completions message."""
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    for block in message.content:
        if block.type == "text":
            texts.append(block.text.value)
        elif block.type == "refusal":
            texts.append(block.refusal)
        elif block.type == "image_url":
            images.append(
                {"type": "image_url", "image_url": block.image_url.model_dump(exclude_none=True)}
            )
        else:  # image_file: file contents are not served to the model yet
            texts.append(f"[image file {block.image_file.file_id}]")
    text = "\n".join(texts)
    if message.role == "assistant":
        return {"role": "assistant", "content": text}
    if images:
        parts = [{"type": "text", "text": text}, *images]
        return cast(ChatCompletionUserMessageParam, {"role": "user", "content": parts})
    return {"role": "user", "content": text}


def system_messages(run: Run) -> list[ChatCompletionMessageParam]:
    return [{"role": "system", "content": run.instructions}] if run.instructions else []


def chat_tools(tools: list[AssistantTool], registry: ToolRegistry) -> list[ChatCompletionToolParam]:
    """Function tools as they are; built-in tools as the functions that stand for them."""
    result: list[ChatCompletionToolParam] = []
    for tool in tools:
        if tool.type == "function":
            function = cast(FunctionDefinition, tool.function.model_dump(exclude_none=True))
            result.append({"type": "function", "function": function})
        else:
            result.append(registry.definitions[tool.type])
    return result


MAX_TOOL_ROUNDS = 4
"""Model calls of one run that may call tools; the next one must answer (``tool_choice``
``none``). A small model can otherwise call tools until the run expires (ten minutes):
retrying code that keeps failing, or calling again with a result it does not read."""


def request(
    run: Run,
    messages: list[ChatCompletionMessageParam],
    registry: ToolRegistry,
    *,
    tool_rounds: int = 0,
) -> ChatRequest:
    """The Chat Completions request for one model call of ``run``, after ``tool_rounds``
    calls of the run that called tools.

    A forcing ``tool_choice`` (``required`` or a named tool) applies to the
    run's first model call only; later calls, which carry the tools' outputs,
    use ``auto``. Forcing every call would make the model call tools forever
    (a loop OpenAI's runs were known for) instead of answering with them.
    A run forced to a *built-in* tool (``code_interpreter``, ``file_search``)
    is read as "use this tool, then answer": its later calls use ``none``.
    Small local models otherwise go on writing calls to the tool as text
    instead of answering from its result.
    """
    body: dict[str, Any] = {"model": run.model, "messages": messages}
    tools = chat_tools(run.tools, registry)
    if tools:
        body["tools"] = tools
        body["parallel_tool_calls"] = run.parallel_tool_calls
        choice = run.tool_choice
        if tool_rounds and choice not in (None, "auto", "none"):
            builtin = not isinstance(choice, str) and choice.type != "function"
            choice = "none" if builtin else "auto"
        if tool_rounds >= MAX_TOOL_ROUNDS:
            choice = "none"
        if choice is not None and not isinstance(choice, str):
            name = (
                choice.function.name
                if choice.type == "function" and choice.function
                else choice.type
            )
            body["tool_choice"] = {"type": "function", "function": {"name": name}}
        elif choice is not None:
            body["tool_choice"] = choice
    if run.temperature is not None:
        body["temperature"] = run.temperature
    if run.top_p is not None:
        body["top_p"] = run.top_p
    if run.response_format is not None and run.response_format != "auto":
        body["response_format"] = run.response_format.model_dump(exclude_none=True, by_alias=True)
    return body  # type: ignore[return-value]


def continuation(previous: RunPrompt) -> list[ChatCompletionMessageParam]:
    """The next call's messages: the previous request, the model's answer, the tool outputs."""
    assert previous.response is not None
    answers: list[ChatCompletionMessageParam] = [
        {
            "role": "tool",
            "tool_call_id": call["id"],
            "content": previous.tool_outputs.get(call["id"], ""),
        }
        for call in previous.response.get("tool_calls") or []
    ]
    return [*previous.request["messages"], previous.response, *answers]
