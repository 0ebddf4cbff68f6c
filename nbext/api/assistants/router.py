"""``/v1/assistants``: model + instructions + tools, stored server-side."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from nbext.api.assistants.service import Assistants
from nbext.api.edge import Owner, call, dump, json_body, query

router = APIRouter(prefix="/assistants", tags=["Assistants"])


def assistants(request: Request) -> Assistants:
    return request.app.state.assistants.assistants


@router.post("")
async def create_assistant(request: Request, owner: Owner) -> Any:
    return dump(await call(assistants(request).create, owner, await json_body(request)))


@router.get("")
async def list_assistants(request: Request, owner: Owner) -> Any:
    return dump(await call(assistants(request).list, owner, query(request)))


@router.get("/{assistant_id}")
async def retrieve_assistant(assistant_id: str, request: Request, owner: Owner) -> Any:
    return dump(await call(assistants(request).retrieve, owner, assistant_id))


@router.post("/{assistant_id}")
async def modify_assistant(assistant_id: str, request: Request, owner: Owner) -> Any:
    body = await json_body(request)
    return dump(await call(assistants(request).update, owner, assistant_id, body))


@router.delete("/{assistant_id}")
async def delete_assistant(assistant_id: str, request: Request, owner: Owner) -> Any:
    return dump(await call(assistants(request).delete, owner, assistant_id))
