"""What ``POST /v1/chat/completions`` accepts, checked as OpenAI checks it.

Every field of the official request type is accepted here and handed to the
backend as given: a remote endpoint gets all of them (its provider decides),
the embedded model honours what llama.cpp can and refuses the rest with
OpenAI's ``unsupported_parameter`` / ``unsupported_value`` errors
(:mod:`nbext.backends.embedded`). Names that are not in the API at all are
refused here. The ranges are the API's own, so they are checked whatever the
backend: ``temperature`` 0..2, penalties -2..2, ``top_logprobs`` 0..20,
``logit_bias`` -100..100 per token id.
"""

from __future__ import annotations

from typing import Any, Literal, cast

from openai.types.chat.completion_create_params import CompletionCreateParamsBase
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from nbext.api.chat.messages import Messages
from nbext.backends.base import ChatRequest
from nbext.errors import invalid

_KNOWN_FIELDS = frozenset(CompletionCreateParamsBase.__annotations__) | {"stream"}
_ROUTE_ONLY = ("stream", "stream_options")
"""Decided by the route (``stream``) and by each backend (``include_usage``)."""


class ChatCompletionBody(BaseModel):
    """A Chat Completions request: the API's fields, the checked ones typed here."""

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
    n: int | None = Field(default=None, ge=1, le=128)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    logit_bias: dict[str, Any] | None = None

    @field_validator("logit_bias")
    @classmethod
    def _token_ids_and_biases(cls, bias: dict[str, Any] | None) -> dict[str, Any] | None:
        for token, value in (bias or {}).items():
            if not token.lstrip("-").isdigit() or int(token) < 0:
                raise invalid(
                    f"Invalid 'logit_bias': the key {token!r} is not a token id "
                    "(a non-negative integer, as a string).",
                    param="logit_bias",
                )
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise invalid(
                    f"Invalid 'logit_bias': the bias of token {token} must be a number.",
                    param="logit_bias",
                    code="invalid_type",
                )
            if not -100 <= value <= 100:
                raise invalid(
                    f"Invalid 'logit_bias': the bias of token {token} is {value}; "
                    "biases must be between -100 and 100.",
                    param="logit_bias",
                )
        return bias

    @model_validator(mode="after")
    def _refuse_unknown_fields(self) -> ChatCompletionBody:
        for name in self.model_extra or {}:
            if name not in _KNOWN_FIELDS:
                raise invalid(f"Unrecognized request argument supplied: {name}", param=name)
        if self.top_logprobs is not None and not self.logprobs:
            raise invalid(
                "Invalid value for 'top_logprobs': 'logprobs' must be set to true "
                "when 'top_logprobs' is used.",
                param="top_logprobs",
            )
        return self

    def backend_request(self) -> ChatRequest:
        """What the backend is asked: every field given (nulls mean "the default" and are
        left out), ``stream`` decided by the route."""
        given = self.model_dump(exclude_none=True)
        for name in _ROUTE_ONLY:
            given.pop(name, None)
        return cast(ChatRequest, given)
