"""``/v1/chat/completions`` and ``/v1/models``: the stateless half of the lesson."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from openai.types.chat import ChatCompletionChunk
from openai.types.chat.completion_create_params import CompletionCreateParamsBase
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sse_starlette import ServerSentEvent
from starlette.concurrency import run_in_threadpool

from nbext.api.sse import event_stream
from nbext.backends.base import ChatBackend
from nbext.errors import APIError, invalid

router = APIRouter(tags=["Chat"])

_KNOWN_FIELDS = frozenset(CompletionCreateParamsBase.__annotations__) | {"stream"}


class ChatCompletionBody(BaseModel):
    """The request fields the backends honour, checked as OpenAI checks them.

    Other fields of the official request type (``user``, ``store``, ...) are
    accepted and ignored, as a provider without those features would; names
    that are not in the API at all are refused.
    """

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[dict[str, Any]] = Field(min_length=1)
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

    def backend_request(self) -> dict[str, Any]:
        honoured = self.model_dump(exclude_none=True, exclude=set(self.model_extra or {}))
        honoured.pop("stream", None)
        honoured.pop("stream_options", None)
        honoured.pop("n", None)
        return honoured


def _backend(request: Request) -> ChatBackend:
    return request.app.state.backend


@router.post("/chat/completions")
async def create_chat_completion(body: ChatCompletionBody, request: Request) -> Any:
    backend = _backend(request)
    params = body.backend_request()
    if not body.stream:
        completion = await run_in_threadpool(backend.create, params)  # type: ignore[arg-type]
        return completion.model_dump(mode="json", exclude_unset=True)

    include_usage = bool((body.stream_options or {}).get("include_usage"))

    def encode(chunk: ChatCompletionChunk) -> ServerSentEvent | None:
        if not chunk.choices and not include_usage:
            return None
        return ServerSentEvent(data=chunk.model_dump_json(exclude_unset=True))

    return await event_stream(
        backend.stream(params),  # type: ignore[arg-type]
        encode,
        done=ServerSentEvent(data="[DONE]"),
    )


@router.get("/models")
async def list_models(request: Request) -> dict[str, Any]:
    models = await run_in_threadpool(_backend(request).list_models)
    return {"object": "list", "data": [m.model_dump(mode="json") for m in models]}


@router.get("/models/{model_id:path}")
async def retrieve_model(model_id: str, request: Request) -> dict[str, Any]:
    models = await run_in_threadpool(_backend(request).list_models)
    for model in models:
        if model.id == model_id:
            return model.model_dump(mode="json")
    raise APIError(
        f"The model '{model_id}' does not exist", status=404, param="model", code="model_not_found"
    )
