"""``/v1/threads/{thread_id}/messages``: what the user and the assistant said."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from nbext.api.edge import Owner, call, dump, json_body, query
from nbext.api.messages.service import Messages

router = APIRouter(prefix="/threads/{thread_id}/messages", tags=["Assistants"])


def messages(request: Request) -> Messages:
    return request.app.state.assistants.messages


@router.post("")
async def create_message(thread_id: str, request: Request, owner: Owner) -> Any:
    body = await json_body(request)
    return dump(await call(messages(request).create, owner, thread_id, body))


@router.get("")
async def list_messages(thread_id: str, request: Request, owner: Owner) -> Any:
    return dump(await call(messages(request).list, owner, thread_id, query(request)))


@router.get("/{message_id}")
async def retrieve_message(thread_id: str, message_id: str, request: Request, owner: Owner) -> Any:
    return dump(await call(messages(request).retrieve, owner, thread_id, message_id))


@router.post("/{message_id}")
async def modify_message(thread_id: str, message_id: str, request: Request, owner: Owner) -> Any:
    body = await json_body(request)
    return dump(await call(messages(request).update, owner, thread_id, message_id, body))


@router.delete("/{message_id}")
async def delete_message(thread_id: str, message_id: str, request: Request, owner: Owner) -> Any:
    return dump(await call(messages(request).delete, owner, thread_id, message_id))
