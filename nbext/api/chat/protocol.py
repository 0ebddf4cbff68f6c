"""What ``POST /v1/chat/completions`` accepts: the fields the backends honour."""

from __future__ import annotations

from typing import Any, Literal, cast

from openai.types.chat.completion_create_params import CompletionCreateParamsBase
from pydantic import BaseModel, ConfigDict, Field, model_validator

from nbext.api.chat.messages import Messages
from nbext.backends.base import ChatRequest
from nbext.errors import invalid

_KNOWN_FIELDS = frozenset(CompletionCreateParamsBase.__annotations__) | {"stream"}


class ChatCompletionBody(BaseModel):
    """The request fields the backends honour, checked as OpenAI checks them.

    Other fields of the official request type (``user``, ``store``, ...) are
    accepted and ignored, as a provider without those features would; names
    that are not in the API at all are refused.
    """

    model_config = ConfigDict(extra="allow")

    model: str
    messages: Messages
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    seed: int | None = None
    stop: str | list[str] | None = None
    tools: list[dict[str, Any]] | None = Field(default=None, max_length=128)
    tool_choice: Literal["none", "auto", "required"] | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    n: int | None = Field(default=None, ge=1, le=1)

    @model_validator(mode="after")
    def _refuse_unknown_fields(self) -> ChatCompletionBody:
        for name in self.model_extra or {}:
            if name not in _KNOWN_FIELDS:
                raise invalid(f"Unrecognized request argument supplied: {name}", param=name)
        return self

    def backend_request(self) -> ChatRequest:
        """What the backend is asked: the honoured fields, ``stream`` decided by the route."""
        honoured = self.model_dump(exclude_none=True, exclude=set(self.model_extra or {}))
        honoured.pop("stream", None)
        honoured.pop("stream_options", None)
        honoured.pop("n", None)
        return cast(ChatRequest, honoured)
