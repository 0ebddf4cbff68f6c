"""Any OpenAI-compatible endpoint as a backend: OpenAI, Ollama, vLLM, LM Studio...

Requests pass through the official ``openai`` client unchanged; failures come
back as :class:`~nbext.errors.BackendError` worded for a learner (what broke,
which variable to fix), because they end up verbatim in a notebook cell.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import openai
from openai.types import Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from nbext.backends.base import ChatRequest
from nbext.errors import APIError, BackendError

_CHARS_PER_TOKEN = 4
"""Remote endpoints expose no tokenizer; OpenAI's rule of thumb stands in."""


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
    ) -> None:
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key or "none", timeout=timeout, max_retries=0
        )
        self._base_url = base_url
        self._model = model
        self._context_window = context_window

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

    def count_tokens(self, messages: Sequence[Any], tools: Sequence[Any] | None = None) -> int:
        text = json.dumps(list(messages)) + json.dumps(list(tools or []))
        return len(text) // _CHARS_PER_TOKEN + 1

    def create(self, request: ChatRequest) -> ChatCompletion:
        with _translated_errors(self._base_url):
            return self._client.chat.completions.create(**self._resolved(request))

    def stream(self, request: ChatRequest) -> Iterator[ChatCompletionChunk]:
        body = {**self._resolved(request), "stream_options": {"include_usage": True}}
        with _translated_errors(self._base_url):
            yield from self._client.chat.completions.create(**body, stream=True)

    def _resolved(self, request: ChatRequest) -> dict[str, Any]:
        body = {k: v for k, v in request.items() if k not in ("stream", "stream_options")}
        if body.get("model") in (None, "", "default"):
            body["model"] = self.default_model
        return body


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
