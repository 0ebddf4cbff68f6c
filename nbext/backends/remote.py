"""Any OpenAI-compatible endpoint as a backend: OpenAI, Ollama, vLLM, LM Studio...

Requests pass through the official ``openai`` client; failures come back as
:class:`~nbext.errors.BackendError` worded for a learner (what broke, which
variable to fix), because they end up verbatim in a notebook cell.

Endpoints differ in what they send back, and the answers are brought to
OpenAI's shapes here, so the server and the run loop see one dialect. Found
with ``llama_cpp.server`` (llama-cpp-python's own server,
tests/test_third_party_backend.py):

- a stream without the ``usage`` chunk, even when asked for one: it is added;
- a streamed tool call that repeats its id and name in every chunk (OpenAI
  sends them once, and clients concatenate the names): later repeats are dropped;
- tool calls written out as text (``<tool_call>{...}</tool_call>`` or a fenced
  JSON block naming a tool) when only a forced ``tool_choice`` is structured:
  read back into ``tool_calls`` as the embedded backend does;
- a model (left to decide) that answers a tool result by making the same call
  again: the endpoint is asked once more, without tools, for the answer;
- a 500 for an assistant message whose ``content`` is ``null`` beside its tool
  calls (as OpenAI allows): such a ``content`` is left out of the request.

Prompt tokens (truncation, ``/context``) are counted with the model's own
tokenizer when the endpoint serves a catalogue model whose GGUF is here, else
from the characters per token of the usage the endpoint reported, else with
OpenAI's rule of thumb (:data:`~nbext.backends.base.TokenCounting`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import openai
from openai.types import CompletionUsage, Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.chat.chat_completion_chunk import (
    Choice as ChunkChoice,
)
from openai.types.chat.chat_completion_chunk import (
    ChoiceDelta,
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
)
from openai.types.chat.chat_completion_message_function_tool_call import (
    ChatCompletionMessageFunctionToolCall,
    Function,
)

from nbext.backends.base import ChatRequest, TokenCounting
from nbext.backends.models import catalogue_model_named
from nbext.backends.tool_calls import ParsedCall, ToolCallExtractor, repeats_made_calls
from nbext.errors import APIError, BackendError

_CHARS_PER_TOKEN = 4
"""OpenAI's rule of thumb, until the endpoint has reported a usage."""


class RemoteBackend:
    """Chat Completions forwarded to ``base_url``."""

    forwards_model_names = True
    """Model names go to the endpoint as they are (it may serve ``gpt-4o`` itself);
    only explicit ``NBEXT_MODEL_ALIASES`` entries rename them."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        model: str | None,
        *,
        context_window: int = 128_000,
        timeout: float = 120.0,
        model_dir: Path | None = None,
    ) -> None:
        """``model_dir``: where catalogue GGUFs are (``NBEXT_HOME/models``), so that a
        remote serving one of them is counted with its tokenizer."""
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key or "none", timeout=timeout, max_retries=0
        )
        self._base_url = base_url
        self._model = model
        self._context_window = context_window
        self._model_dir = model_dir
        self._tokenizer: Any = None
        self._tokenizer_known = False
        self._reported_chars = 0
        self._reported_tokens = 0

    @property
    def default_model(self) -> str:
        if self._model:
            return self._model
        models = self.list_models()
        if not models:
            raise BackendError(
                f"The backend at {self._base_url} lists no models; set NBEXT_MODEL.",
                code="model_not_found",
            )
        return models[0].id

    @property
    def context_window(self) -> int:
        return self._context_window

    @property
    def description(self) -> str:
        return f"OpenAI-compatible endpoint {self._base_url}"

    def list_models(self) -> list[Model]:
        with _translated_errors(self._base_url):
            return list(self._client.models.list())

    # -- token counting -----------------------------------------------------

    @property
    def token_counting(self) -> TokenCounting:
        if self._chat_tokenizer() is not None:
            return "tokenizer"
        return "usage" if self._reported_tokens else "estimate"

    def count_tokens(self, messages: Sequence[Any], tools: Sequence[Any] | None = None) -> int:
        if (tokenizer := self._chat_tokenizer()) is not None:
            return int(tokenizer.count(messages, tools))
        chars = _prompt_chars(messages, tools)
        if self._reported_tokens:
            return max(1, round(chars * self._reported_tokens / self._reported_chars))
        return chars // _CHARS_PER_TOKEN + 1

    def _chat_tokenizer(self) -> Any:
        """The served model's tokenizer, when it is a catalogue model whose GGUF is here."""
        if self._tokenizer_known:
            return self._tokenizer
        try:
            served = catalogue_model_named(self.default_model)
        except BackendError:
            return None  # unreachable for now: decide when it answers
        if served is not None and self._model_dir is not None and served.assembled(self._model_dir):
            # Imported here: a remote backend loads llama.cpp only to count tokens.
            from nbext.backends.chat_tokens import vocabulary_tokenizer

            self._tokenizer = vocabulary_tokenizer(served.assembled_path(self._model_dir))
        self._tokenizer_known = True
        return self._tokenizer

    def _learn(self, body: dict[str, Any], usage: CompletionUsage | None) -> None:
        """Keep the endpoint's reported prompt size, for counting without a tokenizer."""
        if usage is not None and usage.prompt_tokens > 0:
            self._reported_chars += _prompt_chars(body["messages"], body.get("tools"))
            self._reported_tokens += usage.prompt_tokens

    # -- completions ----------------------------------------------------------

    def create(self, request: ChatRequest) -> ChatCompletion:
        body = self._resolved(request)
        completion = self._completion(body)
        message = completion.choices[0].message if len(completion.choices) == 1 else None
        if message is not None and message.tool_calls and _model_decides(body):
            calls = [
                ParsedCall(name=call.function.name, arguments=call.function.arguments)
                for call in message.tool_calls
                if isinstance(call, ChatCompletionMessageFunctionToolCall)
            ]
            if calls and repeats_made_calls(calls, body["messages"]):
                completion = self._completion(_answer_only(body))
        return completion

    def _completion(self, body: dict[str, Any]) -> ChatCompletion:
        with _translated_errors(self._base_url):
            completion = self._client.chat.completions.create(**body)
        self._learn(body, completion.usage)
        tool_names = _written_call_names(body)
        if tool_names and completion.choices:
            _read_written_calls(completion, tool_names)
        return completion

    def stream(self, request: ChatRequest) -> Iterator[ChatCompletionChunk]:
        body = {**self._resolved(request), "stream_options": {"include_usage": True}}
        yield from self._streamed(body, answer_repeats=True)

    def _streamed(
        self, body: dict[str, Any], *, answer_repeats: bool
    ) -> Iterator[ChatCompletionChunk]:
        with _translated_errors(self._base_url):
            chunks = self._client.chat.completions.create(**body, stream=True)
            yield from self._normalized(body, chunks, answer_repeats=answer_repeats)

    def _normalized(
        self,
        body: dict[str, Any],
        chunks: Iterator[ChatCompletionChunk],
        *,
        answer_repeats: bool,
    ) -> Iterator[ChatCompletionChunk]:
        """The endpoint's chunks in OpenAI's shapes (see the module docstring).

        ``answer_repeats``: written-out calls that only repeat calls already made
        (the model left to decide) are not passed on; the endpoint is asked again,
        without tools, for an answer."""
        tool_names = _written_call_names(body)
        extractor = ToolCallExtractor(tool_names) if tool_names else None
        announced: set[int] = set()  # tool call indices whose id and name were sent
        generated: list[str] = []
        usage: CompletionUsage | None = None
        finish: ChatCompletionChunk | None = None
        last: ChatCompletionChunk | None = None
        for chunk in chunks:
            last = chunk
            if chunk.usage is not None:
                usage = chunk.usage
                self._learn(body, usage)
            if not chunk.choices:
                continue  # the usage chunk: sent last, after any held-back part
            if len(chunk.choices) > 1:
                yield chunk  # several choices (``n``): as they are
                continue
            choice = chunk.choices[0]
            delta = choice.delta
            generated.append(delta.content or "")
            fields: dict[str, Any] = {
                "role": delta.role,
                "content": delta.content,
                "refusal": delta.refusal,
            }
            if delta.tool_calls:
                generated.extend(c.function.arguments or "" for c in delta.tool_calls if c.function)
                fields["tool_calls"] = [_announced_once(c, announced) for c in delta.tool_calls]
            elif delta.function_call is not None:
                # Legacy ``functions``; beside tool_calls it is a duplicate OpenAI never sends.
                fields["function_call"] = delta.function_call
            if extractor is not None and delta.content and not announced:
                fields["content"] = extractor.feed(delta.content) or None
                if not fields["content"] and not delta.role and not choice.finish_reason:
                    continue  # held back: it may be a written-out tool call
            present = {name: value for name, value in fields.items() if value is not None}
            normalized = _with_choice(
                chunk, choice.model_copy(update={"delta": ChoiceDelta(**present)})
            )
            if extractor is not None and choice.finish_reason:
                finish = normalized  # sent once the written-out calls are known
                continue
            yield normalized
        if last is None:
            return
        if extractor is not None:
            if leftover := extractor.finish():
                yield _with_choice(last, _chunk_choice(ChoiceDelta(content=leftover)))
            calls = extractor.calls if not announced else []
            repeats = calls and repeats_made_calls(calls, body["messages"])
            if repeats and answer_repeats and _model_decides(body):
                yield from self._streamed(_answer_only(body), answer_repeats=False)
                return
            for index, call in enumerate(calls):
                yield _with_choice(last, _chunk_choice(_tool_call_delta(index, call)))
            if finish is not None:
                reason = "tool_calls" if extractor.calls and not announced else None
                yield _with_finish(finish, reason)
        yield ChatCompletionChunk(
            id=last.id,
            object="chat.completion.chunk",
            created=last.created,
            model=last.model,
            choices=[],
            usage=usage or self._estimated_usage(body, "".join(generated)),
        )

    def _estimated_usage(self, body: dict[str, Any], generated: str) -> CompletionUsage:
        """The usage an endpoint left out, counted here (the contract promises it)."""
        prompt_tokens = self.count_tokens(body["messages"], body.get("tools"))
        tokenizer = self._chat_tokenizer()
        if tokenizer is not None:
            completion_tokens = len(tokenizer.tokenize(generated))
        else:
            completion_tokens = len(generated) // _CHARS_PER_TOKEN + 1
        return CompletionUsage(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
        )

    def _resolved(self, request: ChatRequest) -> dict[str, Any]:
        body = {k: v for k, v in request.items() if k not in ("stream", "stream_options")}
        if body.get("model") in (None, "", "default"):
            body["model"] = self.default_model
        body["messages"] = [_without_null_content(m) for m in body.get("messages") or []]
        return body


def _prompt_chars(messages: Sequence[Any], tools: Sequence[Any] | None) -> int:
    text = json.dumps(list(messages), ensure_ascii=False) + json.dumps(
        list(tools or []), ensure_ascii=False
    )
    return len(text)


def _without_null_content(message: Any) -> Any:
    """An assistant message's ``"content": null`` beside its tool calls left out: OpenAI
    allows either, ``llama_cpp.server`` rejects the null (500, a validation error)."""
    if (
        isinstance(message, dict)
        and message.get("role") == "assistant"
        and "content" in message
        and message["content"] is None
    ):
        return {k: v for k, v in message.items() if k != "content"}
    return message


def _model_decides(body: dict[str, Any]) -> bool:
    """Whether the request leaves calling to the model (a forced call is not retried)."""
    return body.get("tool_choice") in (None, "auto")


def _answer_only(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with no tools: the request again, for an answer from the results held.

    The tools are left out rather than sent with ``tool_choice: "none"``: an endpoint
    that renders them into the prompt anyway (a chat template does) invites the
    model to write the same call again, as text."""
    dropped = ("tools", "tool_choice", "parallel_tool_calls")
    return {k: v for k, v in body.items() if k not in dropped}


def _written_call_names(body: dict[str, Any]) -> list[str]:
    """The function names whose calls may come back written out as text (none if the
    request forbids calls or asks for several choices)."""
    if body.get("tool_choice") == "none" or (body.get("n") or 1) > 1:
        return []
    return [
        tool["function"]["name"]
        for tool in body.get("tools") or []
        if tool.get("type") == "function"
    ]


def _read_written_calls(completion: ChatCompletion, tool_names: list[str]) -> None:
    """Turn a non-streamed answer's written-out tool calls into ``tool_calls`` (in place)."""
    choice = completion.choices[0]
    message = choice.message
    if message.tool_calls or not message.content:
        return
    extractor = ToolCallExtractor(tool_names)
    shown = extractor.feed(message.content) + extractor.finish()
    if not extractor.calls:
        return
    message.content = shown or None
    message.tool_calls = [
        ChatCompletionMessageFunctionToolCall(
            id=call.id,
            type="function",
            function=Function(name=call.name, arguments=call.arguments),
        )
        for call in extractor.calls
    ]
    choice.finish_reason = "tool_calls"


def _announced_once(call: ChoiceDeltaToolCall, announced: set[int]) -> ChoiceDeltaToolCall:
    """``call`` with its id, type and name only the first time its index is seen."""
    arguments = call.function.arguments if call.function else None
    if call.index in announced:
        return ChoiceDeltaToolCall(
            index=call.index, function=ChoiceDeltaToolCallFunction(arguments=arguments or "")
        )
    announced.add(call.index)
    return ChoiceDeltaToolCall(
        index=call.index,
        id=call.id,
        type="function",
        function=ChoiceDeltaToolCallFunction(
            name=call.function.name if call.function else None, arguments=arguments or ""
        ),
    )


def _tool_call_delta(index: int, call: ParsedCall) -> ChoiceDelta:
    return ChoiceDelta(
        tool_calls=[
            ChoiceDeltaToolCall(
                index=index,
                id=call.id,
                type="function",
                function=ChoiceDeltaToolCallFunction(name=call.name, arguments=call.arguments),
            )
        ]
    )


def _chunk_choice(delta: ChoiceDelta) -> ChunkChoice:
    return ChunkChoice(index=0, delta=delta, finish_reason=None, logprobs=None)


def _with_choice(chunk: ChatCompletionChunk, choice: ChunkChoice) -> ChatCompletionChunk:
    return ChatCompletionChunk(
        id=chunk.id,
        object="chat.completion.chunk",
        created=chunk.created,
        model=chunk.model,
        choices=[choice],
    )


def _with_finish(chunk: ChatCompletionChunk, reason: str | None) -> ChatCompletionChunk:
    if reason is None:
        return chunk
    choice = chunk.choices[0].model_copy(update={"finish_reason": reason})
    return _with_choice(chunk, choice)


@contextmanager
def _translated_errors(url: str) -> Iterator[None]:
    """Turn the SDK's exceptions into one-line messages that name the fix."""
    try:
        yield
    except openai.APIConnectionError as error:
        raise BackendError(
            f"Cannot reach the backend at {url}. Check that it is running and that "
            "NBEXT_BACKEND_URL is right, or switch back with `%nbext backend embedded`.",
            status=503,
            code="backend_unreachable",
        ) from error
    except openai.AuthenticationError as error:
        raise BackendError(
            f"The backend at {url} refused the key. Set NBEXT_BACKEND_KEY to a valid key.",
            status=401,
            code="backend_auth",
        ) from error
    except openai.NotFoundError as error:
        raise BackendError(
            f"The backend at {url} does not know that model. Set NBEXT_MODEL to one it "
            "lists (GET /v1/models).",
            status=404,
            code="model_not_found",
        ) from error
    except openai.RateLimitError as error:
        raise BackendError(
            f"The backend at {url} is rate limiting requests; wait and try again.",
            status=429,
            code="rate_limit_exceeded",
        ) from error
    except openai.APIStatusError as error:
        failed_upstream = error.status_code >= 500
        raise APIError(
            f"The backend at {url} answered {error.status_code}: {error.message}",
            status=502 if failed_upstream else error.status_code,
            type="server_error" if failed_upstream else "invalid_request_error",
            code="backend_error",
        ) from error
