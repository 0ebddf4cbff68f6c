"""``/v1/assistants``: model + instructions + tools, stored server-side."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from nbext.server.auth import require_owner
from nbext.server.routes.common import call, dump, json_body, query, service

router = APIRouter(prefix="/assistants")


@router.post("")
async def create_assistant(request: Request, owner: str = Depends(require_owner)) -> Any:
    return dump(await call(service(request).create_assistant, owner, await json_body(request)))


@router.get("")
async def list_assistants(request: Request, owner: str = Depends(require_owner)) -> Any:
    return dump(await call(service(request).list_assistants, owner, query(request)))


@router.get("/{assistant_id}")
async def retrieve_assistant(
    assistant_id: str, request: Request, owner: str = Depends(require_owner)
) -> Any:
    return dump(await call(service(request).retrieve_assistant, owner, assistant_id))


@router.post("/{assistant_id}")
async def modify_assistant(
    assistant_id: str, request: Request, owner: str = Depends(require_owner)
) -> Any:
    body = await json_body(request)
    return dump(await call(service(request).modify_assistant, owner, assistant_id, body))


@router.delete("/{assistant_id}")
async def delete_assistant(
    assistant_id: str, request: Request, owner: str = Depends(require_owner)
) -> Any:
    return dump(await call(service(request).delete_assistant, owner, assistant_id))
