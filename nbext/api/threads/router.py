"""``/v1/threads``: the conversation the server keeps for you.

``/threads/{thread_id}`` would also match ``POST /threads/runs``; the runs
package's ``create_and_run_router`` is therefore included first
(:data:`nbext.api.routers.ROUTERS`, checked by ``tests/test_routes.py``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from openai.types.beta import Thread, ThreadCreateParams, ThreadDeleted, ThreadUpdateParams

from nbext.api.edge import Owner, accepts, call, dump, parsed
from nbext.api.threads.protocol import THREAD_CREATE, THREAD_MODIFY
from nbext.api.threads.service import Threads

router = APIRouter(prefix="/threads", tags=["Assistants"])


def threads(request: Request) -> Threads:
    return request.app.state.assistants.threads


@router.post("", response_model=Thread, openapi_extra=accepts(ThreadCreateParams))
async def create_thread(
    request: Request, owner: Owner, body: Annotated[ThreadCreateParams, parsed(THREAD_CREATE)]
) -> Response:
    return dump(await call(threads(request).create, owner, body))


@router.get("/{thread_id}", response_model=Thread)
async def retrieve_thread(thread_id: str, request: Request, owner: Owner) -> Response:
    return dump(await call(threads(request).retrieve, owner, thread_id))


@router.post("/{thread_id}", response_model=Thread, openapi_extra=accepts(ThreadUpdateParams))
async def modify_thread(
    thread_id: str,
    request: Request,
    owner: Owner,
    body: Annotated[ThreadUpdateParams, parsed(THREAD_MODIFY)],
) -> Response:
    return dump(await call(threads(request).update, owner, thread_id, body))


@router.delete("/{thread_id}", response_model=ThreadDeleted)
async def delete_thread(thread_id: str, request: Request, owner: Owner) -> Response:
    return dump(await call(threads(request).delete, owner, thread_id))
