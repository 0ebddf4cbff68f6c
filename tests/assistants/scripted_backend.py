"""TEST FIXTURE: a ChatBackend that replays pre-scripted replies instantly.

Only the runtime's unit tests use it, to make runs deterministic and fast;
everything a user runs talks to a real model. Tokens are words (plus four
per message), so budgets and truncation are easy to reason about in a test.
"""

from __future__ import annotations

import copy
import json
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from openai.types import Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from nbext.backends.base import ChatRequest, TokenCounting
from nbext.errors import BackendError

PER_MESSAGE = 4


@dataclass
class Reply:
    """One scripted answer: text, tool calls ``(name, arguments)``, or an error.

    With ``gate``, the stream stops after its first piece until the gate is
    set, so a test can act (cancel, restart) while the run is in progress.
    """

    text: str = ""
    tool_calls: list[tuple[str, dict[str, Any] | str]] = field(default_factory=list)
    gate: threading.Event | None = None
    error: BackendError | None = None


def words(text: str) -> int:
    return len(text.split())


def _content_words(content: Any) -> int:
    if isinstance(content, str):
        return words(content)
    if isinstance(content, list):
        return sum(words(part.get("text", "")) for part in content)
    return 0


class ScriptedBackend:
    """Answers each request with the next scripted :class:`Reply`."""

    def __init__(self, *replies: Reply, context_window: int = 4096) -> None:
        self.replies: deque[Reply] = deque(replies)
        self.requests: list[dict[str, Any]] = []
        self.counted_messages = 0  # how many messages count_tokens was asked about
        self.streaming = threading.Event()  # set when a gated reply reaches its gate
        self._context_window = context_window

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    @property
    def default_model(self) -> str:
        return "scripted"

    @property
    def context_window(self) -> int:
        return self._context_window

    @property
    def description(self) -> str:
        return "scripted test backend"

    def list_models(self) -> list[Model]:
        return [Model(id="scripted", object="model", created=0, owned_by="tests")]

    @property
    def token_counting(self) -> TokenCounting:
        return "tokenizer"  # its own word count is its tokenizer

    def count_tokens(self, messages: Sequence[Any], tools: Sequence[Any] | None = None) -> int:
        self.counted_messages += len(messages)
        return self._tokens(messages, tools)

    def _tokens(self, messages: Sequence[Any], tools: Sequence[Any] | None) -> int:
        total = sum(PER_MESSAGE + _content_words(m.get("content")) for m in messages)
        for m in messages:
            for call in m.get("tool_calls") or []:
                total += words(call["function"]["name"] + " " + call["function"]["arguments"])
        return total + (words(json.dumps(list(tools))) if tools else 0)

    def stream(self, request: ChatRequest) -> Iterator[ChatCompletionChunk]:
        self.requests.append(copy.deepcopy(dict(request)))
        reply = self.next_reply(request)
        if reply.error is not None:
            raise reply.error
        limit = request.get("max_completion_tokens")
        pieces = [(" " if i else "") + w for i, w in enumerate(reply.text.split())]
        cut = limit is not None and len(pieces) > limit
        pieces = pieces[:limit] if cut else pieces
        yield _chunk({"role": "assistant"})
        if not pieces:
            self._wait(reply)
        for i, piece in enumerate(pieces):
            yield _chunk({"content": piece})
            if i == 0:
                self._wait(reply)
        completion = len(pieces)
        for index, (name, arguments) in enumerate(reply.tool_calls):
            text = arguments if isinstance(arguments, str) else json.dumps(arguments)
            half = len(text) // 2
            first = {
                "index": index,
                "id": f"call_{len(self.requests)}_{index}",
                "type": "function",
                "function": {"name": name, "arguments": ""},
            }
            yield _chunk({"tool_calls": [first]})
            for part in (text[:half], text[half:]):
                yield _chunk({"tool_calls": [{"index": index, "function": {"arguments": part}}]})
            completion += words(name + " " + text)
        reason = "length" if cut else "tool_calls" if reply.tool_calls else "stop"
        yield _chunk({}, finish_reason=reason)
        prompt = self._tokens(request["messages"], request.get("tools"))  # type: ignore[arg-type]
        yield ChatCompletionChunk.model_validate(
            {
                "id": "chatcmpl-scripted",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "scripted",
                "choices": [],
                # Only the counts, as the real backends send them (no null details).
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
            }
        )

    def next_reply(self, request: ChatRequest) -> Reply:
        """The reply to ``request``: the next scripted one (a subclass may choose by request)."""
        return self.replies.popleft() if self.replies else Reply(text="(no scripted reply left)")

    def _wait(self, reply: Reply) -> None:
        if reply.gate is not None:
            self.streaming.set()
            reply.gate.wait(5)

    def create(self, request: ChatRequest) -> ChatCompletion:
        text, calls, reason, usage = "", {}, "stop", None
        for chunk in self.stream(request):
            usage = chunk.usage or usage
            for choice in chunk.choices:
                text += choice.delta.content or ""
                reason = choice.finish_reason or reason
                for call in choice.delta.tool_calls or []:
                    entry = calls.setdefault(
                        call.index,
                        {
                            "id": call.id,
                            "type": "function",
                            "function": {"name": "", "arguments": ""},
                        },
                    )
                    entry["function"]["name"] += call.function.name or ""
                    entry["function"]["arguments"] += call.function.arguments or ""
        # refusal and logprobs are sent as null, as OpenAI (and the embedded backend) send them.
        message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
        if calls:
            message["tool_calls"] = list(calls.values())
        return ChatCompletion.model_validate(
            {
                "id": "chatcmpl-scripted",
                "object": "chat.completion",
                "created": 0,
                "model": "scripted",
                "choices": [
                    {"index": 0, "message": message, "finish_reason": reason, "logprobs": None}
                ],
                "usage": usage.model_dump(exclude_unset=True) if usage else None,
            }
        )


def _chunk(delta: dict[str, Any], finish_reason: str | None = None) -> ChatCompletionChunk:
    return ChatCompletionChunk.model_validate(
        {
            "id": "chatcmpl-scripted",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "scripted",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }
    )
