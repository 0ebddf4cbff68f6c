"""``/v1/assistants``: model + instructions + tools, stored server-side."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from openai.types.beta import (
    Assistant,
    AssistantCreateParams,
    AssistantDeleted,
    AssistantUpdateParams,
)

from nbext.api.assistants.protocol import ASSISTANT_CREATE, ASSISTANT_MODIFY
from nbext.api.assistants.service import Assistants
from nbext.api.edge import Owner, accepts, call, dump, listing, parsed
from nbext.store import ListQuery, Page

router = APIRouter(prefix="/assistants", tags=["Assistants"])


def assistants(request: Request) -> Assistants:
    return request.app.state.assistants.assistants


@router.post("", response_model=Assistant, openapi_extra=accepts(AssistantCreateParams))
async def create_assistant(
    request: Request,
    owner: Owner,
    body: Annotated[AssistantCreateParams, parsed(ASSISTANT_CREATE)],
) -> Response:
    return dump(await call(assistants(request).create, owner, body))


@router.get("", response_model=Page[Assistant])
async def list_assistants(
    request: Request, owner: Owner, page: Annotated[ListQuery, listing()]
) -> Response:
    return dump(await call(assistants(request).list, owner, page))


@router.get("/{assistant_id}", response_model=Assistant)
async def retrieve_assistant(assistant_id: str, request: Request, owner: Owner) -> Response:
    return dump(await call(assistants(request).retrieve, owner, assistant_id))


@router.post(
    "/{assistant_id}", response_model=Assistant, openapi_extra=accepts(AssistantUpdateParams)
)
async def modify_assistant(
    assistant_id: str,
    request: Request,
    owner: Owner,
    body: Annotated[AssistantUpdateParams, parsed(ASSISTANT_MODIFY)],
) -> Response:
    return dump(await call(assistants(request).update, owner, assistant_id, body))


@router.delete("/{assistant_id}", response_model=AssistantDeleted)
async def delete_assistant(assistant_id: str, request: Request, owner: Owner) -> Response:
    return dump(await call(assistants(request).delete, owner, assistant_id))
