"""Turn a local model's written-out tool calls into OpenAI ``tool_calls``.

Qwen's chat template asks the model to answer a tool call as
``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``; small models
sometimes write the same JSON in a fenced block instead. OpenAI clients expect
neither: they expect structured ``tool_calls``. :class:`ToolCallExtractor`
reads the output as it streams, lets ordinary text through at once, and holds
back only what may be a tool call until it knows.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

_QWEN_OPEN, _QWEN_CLOSE = "<tool_call>", "</tool_call>"
_FENCE_OPENS = ("```json\n", "```\n{", "```\n[")
_FENCE_CLOSE = "```"


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


@dataclass(frozen=True)
class ParsedCall:
    name: str
    arguments: str
    """JSON text, as OpenAI sends it."""
    id: str = field(default_factory=new_call_id)


def parse_call_json(text: str, tool_names: Iterable[str]) -> list[ParsedCall] | None:
    """Read ``{"name", "arguments"}`` objects (one or a list); ``None`` if not calls."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    items = value if isinstance(value, list) else [value]
    names = set(tool_names)
    calls = []
    for item in items:
        if not isinstance(item, dict) or item.get("name") not in names:
            return None
        arguments = item.get("arguments", item.get("parameters", {}))
        if isinstance(arguments, str):
            arguments_text = arguments
        else:
            arguments_text = json.dumps(arguments, ensure_ascii=False)
        calls.append(ParsedCall(name=item["name"], arguments=arguments_text))
    return calls or None


def _held_suffix(text: str, markers: Iterable[str]) -> int:
    """Length of the longest end of ``text`` that could start a marker."""
    longest = 0
    for marker in markers:
        for size in range(min(len(marker) - 1, len(text)), longest, -1):
            if marker.startswith(text[-size:]):
                longest = size
                break
    return longest


class ToolCallExtractor:
    """Split streamed model output into user-visible text and tool calls."""

    def __init__(self, tool_names: Iterable[str]) -> None:
        self._names = list(tool_names)
        self._pending = ""
        self._open: str | None = None
        self.calls: list[ParsedCall] = []

    def feed(self, text: str) -> str:
        """Take the next piece of output; return the text that is safe to show."""
        self._pending += text
        shown: list[str] = []
        while True:
            if self._open is not None:
                released = self._close_block()
                if released is None:
                    break
                shown.append(released)
                continue
            start, marker = self._find_open()
            if marker is None:
                keep = _held_suffix(self._pending, (_QWEN_OPEN, *_FENCE_OPENS))
                cut = len(self._pending) - keep
                shown.append(self._pending[:cut])
                self._pending = self._pending[cut:]
                break
            shown.append(self._pending[:start])
            self._pending = self._pending[start:]
            self._open = marker
        return "".join(shown)

    def finish(self) -> str:
        """End of output: parse an unclosed block if it holds a call; return leftover text."""
        leftover, self._pending = self._pending, ""
        if self._open is None:
            return leftover
        body = leftover[len(self._open) :] if self._open == _QWEN_OPEN else leftover[3:]
        calls = parse_call_json(body.strip().removesuffix(_QWEN_CLOSE).strip(), self._names)
        self._open = None
        if calls:
            self.calls.extend(calls)
            return ""
        return leftover

    def _find_open(self) -> tuple[int, str | None]:
        found: tuple[int, str | None] = (-1, None)
        for marker in (_QWEN_OPEN, *_FENCE_OPENS):
            index = self._pending.find(marker)
            if index != -1 and (found[1] is None or index < found[0]):
                found = (index, marker)
        return found

    def _close_block(self) -> str | None:
        """Consume a complete block at the front of the buffer.

        Returns ``None`` while the block is still open, else the text to show
        (empty when the block was a tool call).
        """
        assert self._open is not None
        if self._open == _QWEN_OPEN:
            end = self._pending.find(_QWEN_CLOSE, len(_QWEN_OPEN))
            if end == -1:
                return None
            body = self._pending[len(_QWEN_OPEN) : end]
            block_end = end + len(_QWEN_CLOSE)
        else:
            end = self._pending.find(_FENCE_CLOSE, 3)
            if end == -1:
                return None
            body = self._pending[3:end].removeprefix("json")
            block_end = end + len(_FENCE_CLOSE)
        block = self._pending[:block_end]
        self._pending = self._pending[block_end:]
        self._open = None
        calls = parse_call_json(body.strip(), self._names)
        if calls:
            self.calls.extend(calls)
            self._pending = self._pending.lstrip("\n")
            return ""
        # Not a tool call after all (an ordinary JSON code block): show it.
        return block


def arguments_as_objects(messages: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copy messages with tool-call arguments parsed, as Qwen's template expects.

    OpenAI carries ``arguments`` as a JSON string; the template writes them
    with ``tojson``, which would double-quote a string.
    """
    converted = []
    for message in messages:
        calls = message.get("tool_calls")
        if calls:
            message = {**message, "tool_calls": [_with_object_arguments(c) for c in calls]}
        converted.append(message)
    return converted


def _with_object_arguments(call: dict[str, Any]) -> dict[str, Any]:
    function = dict(call.get("function", {}))
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        with suppress(json.JSONDecodeError):
            function["arguments"] = json.loads(arguments)
    return {**call, "function": function}
