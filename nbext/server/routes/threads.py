"""``/v1/threads`` and their messages: the conversation the server keeps for you."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from nbext.server.auth import require_owner
from nbext.server.routes.common import call, dump, json_body, query, service

router = APIRouter(prefix="/threads")


@router.post("")
async def create_thread(request: Request, owner: str = Depends(require_owner)) -> Any:
    return dump(await call(service(request).create_thread, owner, await json_body(request)))


@router.get("/{thread_id}")
async def retrieve_thread(
    thread_id: str, request: Request, owner: str = Depends(require_owner)
) -> Any:
    return dump(await call(service(request).retrieve_thread, owner, thread_id))


@router.post("/{thread_id}")
async def modify_thread(
    thread_id: str, request: Request, owner: str = Depends(require_owner)
) -> Any:
    body = await json_body(request)
    return dump(await call(service(request).modify_thread, owner, thread_id, body))


@router.delete("/{thread_id}")
async def delete_thread(
    thread_id: str, request: Request, owner: str = Depends(require_owner)
) -> Any:
    return dump(await call(service(request).delete_thread, owner, thread_id))


@router.post("/{thread_id}/messages")
async def create_message(
    thread_id: str, request: Request, owner: str = Depends(require_owner)
) -> Any:
    body = await json_body(request)
    return dump(await call(service(request).create_message, owner, thread_id, body))


@router.get("/{thread_id}/messages")
async def list_messages(
    thread_id: str, request: Request, owner: str = Depends(require_owner)
) -> Any:
    return dump(await call(service(request).list_messages, owner, thread_id, query(request)))


@router.get("/{thread_id}/messages/{message_id}")
async def retrieve_message(
    thread_id: str, message_id: str, request: Request, owner: str = Depends(require_owner)
) -> Any:
    return dump(await call(service(request).retrieve_message, owner, thread_id, message_id))


@router.post("/{thread_id}/messages/{message_id}")
async def modify_message(
    thread_id: str, message_id: str, request: Request, owner: str = Depends(require_owner)
) -> Any:
    body = await json_body(request)
    return dump(
        await call(service(request).modify_message, owner, thread_id, message_id, body)
    )


@router.delete("/{thread_id}/messages/{message_id}")
async def delete_message(
    thread_id: str, message_id: str, request: Request, owner: str = Depends(require_owner)
) -> Any:
    return dump(await call(service(request).delete_message, owner, thread_id, message_id))
