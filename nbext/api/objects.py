"""Building SDK objects (Assistant, Thread, Message, Run) from validated request bodies.

Kept apart from the service so each rule of the contract — what a default
is, what a string ``content`` becomes — is written down once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from openai.types.beta import Assistant, Thread
from openai.types.beta.threads import Message, Run
from pydantic import BaseModel

from nbext.engine.lifecycle import lifetime
from nbext.errors import invalid
from nbext.ids import new_id

M = TypeVar("M", bound=BaseModel)

# Temperature and top_p the caller leaves out stay unset (null): the backend's
# default applies, as with a local OpenAI-compatible server (vLLM, Ollama,
# llama.cpp's), not OpenAI's 1.0. The embedded models sample with what their
# makers recommend (``EmbeddedModel.sampling``); the contract allows null.


def new_assistant(body: Mapping[str, Any], now: int) -> Assistant:
    return Assistant.model_validate(
        {
            "id": new_id("asst"),
            "object": "assistant",
            "created_at": now,
            "model": body["model"],
            "name": body.get("name"),
            "description": body.get("description"),
            "instructions": body.get("instructions"),
            "tools": body.get("tools") or [],
            "tool_resources": body.get("tool_resources") or {},
            "metadata": body.get("metadata") or {},
            "temperature": body.get("temperature"),
            "top_p": body.get("top_p"),
            "response_format": body.get("response_format") or "auto",
        }
    )


def modified(obj: M, body: Mapping[str, Any]) -> M:
    """The object with the body's fields replaced (``reasoning_effort`` is not stored)."""
    changes = {key: value for key, value in body.items() if key != "reasoning_effort"}
    if "metadata" in changes:
        changes["metadata"] = changes["metadata"] or {}
    if "tools" in changes:
        changes["tools"] = changes["tools"] or []
    data = obj.model_dump(mode="json", by_alias=True)
    data.update(changes)
    return type(obj).model_validate(data)


def new_thread(body: Mapping[str, Any], now: int) -> Thread:
    return Thread.model_validate(
        {
            "id": new_id("thread"),
            "object": "thread",
            "created_at": now,
            "metadata": body.get("metadata") or {},
            "tool_resources": body.get("tool_resources") or {},
        }
    )


def content_blocks(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Request content (a string or parts) as the content blocks a Message carries."""
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    blocks: list[dict[str, Any]] = []
    for part in content:
        if part["type"] == "text":
            blocks.append({"type": "text", "text": {"value": part["text"], "annotations": []}})
        else:
            blocks.append(part)
    return blocks


def new_message(body: Mapping[str, Any], thread_id: str, now: int) -> Message:
    """A message written by the caller (not by a run): complete from the start."""
    return Message.model_validate(
        {
            "id": new_id("msg"),
            "object": "thread.message",
            "created_at": now,
            "thread_id": thread_id,
            "role": body["role"],
            "content": content_blocks(body["content"]),
            "attachments": body.get("attachments") or [],
            "metadata": body.get("metadata") or {},
            "status": "completed",
            "assistant_id": None,
            "run_id": None,
            "completed_at": None,
            "incomplete_at": None,
            "incomplete_details": None,
        }
    )


def new_run(body: Mapping[str, Any], assistant: Assistant, thread_id: str, now: int) -> Run:
    """The run's settings: the request's, else the assistant's, else OpenAI's defaults."""
    instructions = body.get("instructions")
    if instructions is None:
        instructions = assistant.instructions or ""
    if body.get("additional_instructions"):
        instructions = "\n\n".join(filter(None, [instructions, body["additional_instructions"]]))
    tools = (
        body["tools"]
        if body.get("tools") is not None
        else [t.model_dump(mode="json") for t in assistant.tools]
    )
    truncation = body.get("truncation_strategy") or {"type": "auto", "last_messages": None}
    if truncation["type"] == "last_messages" and not truncation.get("last_messages"):
        raise invalid(
            "Missing required parameter: 'truncation_strategy.last_messages'.",
            param="truncation_strategy.last_messages",
            code="missing_required_parameter",
        )
    _check_tool_choice(body.get("tool_choice"), tools)
    return Run.model_validate(
        {
            "id": new_id("run"),
            "object": "thread.run",
            "created_at": now,
            "assistant_id": assistant.id,
            "thread_id": thread_id,
            "status": "queued",
            "expires_at": now + lifetime(body.get("metadata")),
            "started_at": None,
            "cancelled_at": None,
            "failed_at": None,
            "completed_at": None,
            "required_action": None,
            "last_error": None,
            "incomplete_details": None,
            "model": body.get("model") or assistant.model,
            "instructions": instructions,
            "tools": tools,
            "metadata": body.get("metadata") or {},
            "temperature": _first(body.get("temperature"), assistant.temperature),
            "top_p": _first(body.get("top_p"), assistant.top_p),
            "max_prompt_tokens": body.get("max_prompt_tokens"),
            "max_completion_tokens": body.get("max_completion_tokens"),
            "truncation_strategy": truncation,
            "tool_choice": body.get("tool_choice") or "auto",
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "response_format": _response_format(body, assistant),
            "usage": None,
        }
    )


def _response_format(body: Mapping[str, Any], assistant: Assistant) -> Any:
    if body.get("response_format") is not None:
        return body["response_format"]
    fmt = assistant.response_format
    if isinstance(fmt, BaseModel):  # by alias: json_schema.schema, not the SDK's schema_
        return fmt.model_dump(mode="json", by_alias=True)
    return fmt or "auto"


def _first(*values: Any) -> Any:
    """The first value given (not None): the request's, else the assistant's (else None)."""
    return next((v for v in values if v is not None), None)


def _check_tool_choice(choice: Any, tools: list[dict[str, Any]]) -> None:
    """A forced tool must be one the run has (the model could not call it otherwise)."""
    if choice is None or choice in ("none", "auto"):
        return
    if choice == "required":
        if not tools:
            raise invalid(
                "'tool_choice' is 'required' but the run has no tools.", param="tool_choice"
            )
        return
    if choice["type"] == "function":
        name = (choice.get("function") or {}).get("name")
        names = [t["function"]["name"] for t in tools if t["type"] == "function"]
        if name not in names:
            raise invalid(
                f"Invalid 'tool_choice': the run has no function named '{name}'.",
                param="tool_choice.function.name",
            )
    elif choice["type"] not in [t["type"] for t in tools]:
        raise invalid(
            f"Invalid 'tool_choice': the run has no {choice['type']} tool.",
            param="tool_choice.type",
        )
