"""Building SDK objects (Assistant, Thread, Message) from validated request bodies.

Kept apart from the service so each rule of the contract — what a default
is, what a string ``content`` becomes — is written down once.
"""

from __future__ import annotations

from typing import Any

from openai.types.beta import Assistant, Thread
from openai.types.beta.threads import Message

from nbext.ids import new_id

# OpenAI echoes these when the caller leaves them out.
DEFAULT_TEMPERATURE = 1.0
DEFAULT_TOP_P = 1.0


def new_assistant(body: dict[str, Any], now: int) -> Assistant:
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
            "temperature": _or(body.get("temperature"), DEFAULT_TEMPERATURE),
            "top_p": _or(body.get("top_p"), DEFAULT_TOP_P),
            "response_format": body.get("response_format") or "auto",
        }
    )


def modified(obj: Any, body: dict[str, Any]) -> Any:
    """The object with the body's fields replaced (``reasoning_effort`` is not stored)."""
    changes = {key: value for key, value in body.items() if key != "reasoning_effort"}
    if "metadata" in changes:
        changes["metadata"] = changes["metadata"] or {}
    if "tools" in changes:
        changes["tools"] = changes["tools"] or []
    data = obj.model_dump(mode="json")
    data.update(changes)
    return type(obj).model_validate(data)


def new_thread(body: dict[str, Any], now: int) -> Thread:
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


def new_message(body: dict[str, Any], thread_id: str, now: int) -> Message:
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


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value
