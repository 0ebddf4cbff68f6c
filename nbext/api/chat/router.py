"""``/v1/chat/completions`` and ``/v1/models``: the stateless half of the lesson."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from openai.types import Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import BaseModel
from sse_starlette import ServerSentEvent
from starlette.concurrency import run_in_threadpool

from nbext.api.chat.protocol import ChatCompletionBody
from nbext.api.sse import event_stream
from nbext.backends.aliases import AliasedBackend
from nbext.backends.base import ChatBackend
from nbext.errors import APIError

router = APIRouter()


class ModelsPage(BaseModel):
    """``GET /models``'s body (the SDK pages it as ``SyncPage[Model]``)."""

    object: Literal["list"] = "list"
    data: list[Model]


def _backend(request: Request) -> ChatBackend:
    return request.app.state.backend


@router.post("/chat/completions", response_model=ChatCompletion, tags=["Chat"])
async def create_chat_completion(body: ChatCompletionBody, request: Request) -> Response:
    backend = _backend(request)
    params = body.backend_request()
    if not body.stream:
        completion = await run_in_threadpool(backend.create, params)
        return JSONResponse(completion.model_dump(mode="json", exclude_unset=True))

    include_usage = bool((body.stream_options or {}).get("include_usage"))

    def encode(chunk: ChatCompletionChunk) -> ServerSentEvent | None:
        if not chunk.choices and not include_usage:
            return None
        return ServerSentEvent(data=chunk.model_dump_json(exclude_unset=True))

    return await event_stream(
        backend.stream(params),
        encode,
        done=ServerSentEvent(data="[DONE]"),
    )


@router.get("/models", response_model=ModelsPage, tags=["Models"])
async def list_models(request: Request) -> Response:
    models = await run_in_threadpool(_backend(request).list_models)
    return JSONResponse({"object": "list", "data": [m.model_dump(mode="json") for m in models]})


@router.get("/models/{model:path}", response_model=Model, tags=["Models"])
async def retrieve_model(model: str, request: Request) -> Response:
    backend = _backend(request)
    if isinstance(backend, AliasedBackend):
        found = await run_in_threadpool(backend.model, model)
    else:
        models = await run_in_threadpool(backend.list_models)
        found = next((m for m in models if m.id == model), None)
    if found is not None:
        return JSONResponse(found.model_dump(mode="json"))
    raise APIError(
        f"The model '{model}' does not exist", status=404, param="model", code="model_not_found"
    )
