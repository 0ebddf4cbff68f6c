"""The contract every Chat Completions provider meets.

The server, the Assistants runtime and the benchmarks talk to a backend only
through :class:`ChatBackend`, so the embedded model and a remote endpoint are
interchangeable. Requests are the ``openai`` SDK's own request TypedDict and
responses are its own pydantic types: what a backend returns is, by
construction, what the SDK parses.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from openai.types import Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.chat.completion_create_params import CompletionCreateParamsBase

from nbext.errors import BackendError

__all__ = ["BackendError", "ChatBackend", "ChatRequest", "TokenCounting"]

ChatRequest = CompletionCreateParamsBase
"""A Chat Completions request body (``stream`` is decided by the method called)."""

TokenCounting = Literal["tokenizer", "usage", "estimate"]
"""How a backend counts prompt tokens (for truncation and ``/context``): the model's
own tokenizer and chat template; characters per token learnt from the token usage
the backend reported; or OpenAI's rule of thumb, four characters per token."""


@runtime_checkable
class ChatBackend(Protocol):
    """A source of chat completions: the embedded model or a remote endpoint."""

    @property
    def default_model(self) -> str:
        """The model id used when a request names none (or names ``default``)."""
        ...

    @property
    def context_window(self) -> int:
        """How many tokens (prompt + completion) the model can attend to."""
        ...

    @property
    def description(self) -> str:
        """One line for ``%nbext``: what this backend is and where it lives."""
        ...

    def list_models(self) -> list[Model]: ...

    def create(self, request: ChatRequest) -> ChatCompletion:
        """Run one request to completion."""
        ...

    def stream(self, request: ChatRequest) -> Iterator[ChatCompletionChunk]:
        """Run one request, yielding chunks as tokens arrive.

        The last chunk carries ``usage`` (and no choices), as OpenAI sends it
        with ``stream_options.include_usage``; the server drops it when the
        caller did not ask for usage.
        """
        ...

    def count_tokens(self, messages: Sequence[Any], tools: Sequence[Any] | None = None) -> int:
        """Prompt tokens that ``messages`` (and ``tools``) cost this model."""
        ...

    @property
    def token_counting(self) -> TokenCounting:
        """How :meth:`count_tokens` counts, now."""
        ...
