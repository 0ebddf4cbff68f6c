"""``/v1/threads/{thread_id}/messages``: what the user and the assistant said."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from openai.types.beta.threads import (
    Message,
    MessageCreateParams,
    MessageDeleted,
    MessageUpdateParams,
)

from nbext.api.edge import Owner, accepts, call, dump, listing, parsed, query
from nbext.api.messages.service import Messages
from nbext.api.params import MESSAGE_CREATE, METADATA_ONLY
from nbext.store import ListQuery, Page

router = APIRouter(prefix="/threads/{thread_id}/messages", tags=["Assistants"])


def messages(request: Request) -> Messages:
    return request.app.state.assistants.messages


@router.post("", response_model=Message, openapi_extra=accepts(MessageCreateParams))
async def create_message(
    thread_id: str,
    request: Request,
    owner: Owner,
    body: Annotated[MessageCreateParams, parsed(MESSAGE_CREATE)],
) -> Response:
    return dump(await call(messages(request).create, owner, thread_id, body))


@router.get("", response_model=Page[Message])
async def list_messages(
    thread_id: str,
    request: Request,
    owner: Owner,
    page: Annotated[ListQuery, listing("run_id")],
) -> Response:
    run_id = query(request).get("run_id")
    return dump(await call(messages(request).list, owner, thread_id, page, run_id))


@router.get("/{message_id}", response_model=Message)
async def retrieve_message(
    thread_id: str, message_id: str, request: Request, owner: Owner
) -> Response:
    return dump(await call(messages(request).retrieve, owner, thread_id, message_id))


@router.post(
    "/{message_id}",
    response_model=Message,
    openapi_extra=accepts(MessageUpdateParams, path=("thread_id",)),
)
async def modify_message(
    thread_id: str,
    message_id: str,
    request: Request,
    owner: Owner,
    body: Annotated[MessageUpdateParams, parsed(METADATA_ONLY)],
) -> Response:
    return dump(await call(messages(request).update, owner, thread_id, message_id, body))


@router.delete("/{message_id}", response_model=MessageDeleted)
async def delete_message(
    thread_id: str, message_id: str, request: Request, owner: Owner
) -> Response:
    return dump(await call(messages(request).delete, owner, thread_id, message_id))
