"""``/v1/embeddings``: file_search's own MiniLM model, served like OpenAI's embeddings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from openai.types import CreateEmbeddingResponse, EmbeddingCreateParams

from nbext.api.edge import accepts, call, parsed
from nbext.api.embeddings.protocol import BODY
from nbext.api.embeddings.service import create_embeddings

router = APIRouter(tags=["Embeddings"])


@router.post(
    "/embeddings",
    response_model=CreateEmbeddingResponse,
    openapi_extra=accepts(EmbeddingCreateParams),
)
async def embeddings(body: Annotated[EmbeddingCreateParams, parsed(BODY)]) -> Response:
    return JSONResponse(await call(create_embeddings, body))
