"""The ``messages`` of a Chat Completions request, checked as OpenAI checks them.

Only what a backend reads is checked, so that a malformed message is a 400
naming it (``messages[2].content[0].text``) rather than a crash inside the
model's prompt template: each message an object with a known ``role``;
``content`` a string or an array of typed parts (a text part's ``text`` a
string), null only for an assistant (or legacy function) message; a tool message's
``tool_call_id`` and an assistant's ``tool_calls`` as the API defines them.
Other fields pass as given (a remote provider may know them).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field

from nbext.api.validation import any_object, array, nullable, obj, string
from nbext.errors import invalid

ROLES = ("developer", "system", "user", "assistant", "tool", "function")

_TOOL_CALL = obj(
    {
        "id": string(),
        "type": string(enum=["function"]),
        "function": obj({"name": string(), "arguments": string()}, required=("name", "arguments")),
    },
    required=("id", "type", "function"),
)


def _required(message: dict[str, Any], key: str, param: str) -> Any:
    if message.get(key) is None:
        raise invalid(
            f"Missing required parameter: '{param}.{key}'.",
            param=f"{param}.{key}",
            code="missing_required_parameter",
        )
    return message[key]


def _content_part(part: Any, param: str) -> None:
    any_object()(part, param)
    string()(_required(part, "type", param), f"{param}.type")
    if part["type"] == "text":
        string()(_required(part, "text", param), f"{param}.text")


def _message(message: dict[str, Any], param: str) -> None:
    role = string(enum=ROLES)(_required(message, "role", param), f"{param}.role")
    content = message.get("content")
    if content is None and role not in ("assistant", "function"):
        _required(message, "content", param)
    if isinstance(content, list):
        for index, part in enumerate(content):
            _content_part(part, f"{param}.content[{index}]")
    elif content is not None:
        string()(content, f"{param}.content")
    nullable(string())(message.get("name"), f"{param}.name")
    if role == "tool":
        string()(_required(message, "tool_call_id", param), f"{param}.tool_call_id")
    if role == "assistant":
        nullable(array(_TOOL_CALL))(message.get("tool_calls"), f"{param}.tool_calls")


def check_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``messages`` as given, once every message has the shape a backend reads."""
    for index, message in enumerate(messages):
        _message(message, f"messages[{index}]")
    return messages


Messages = Annotated[list[dict[str, Any]], Field(min_length=1), AfterValidator(check_messages)]
"""The ``messages`` field of :class:`~nbext.api.chat.protocol.ChatCompletionBody`."""
