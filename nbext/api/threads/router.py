"""``/v1/threads``: the conversation the server keeps for you.

``/threads/{thread_id}`` would also match ``POST /threads/runs``; the runs
package's ``create_and_run`` router is therefore included first
(:data:`nbext.api.routers.ROUTERS`, checked by ``tests/test_routes.py``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from nbext.api.edge import Owner, call, dump, json_body
from nbext.api.threads.service import Threads

router = APIRouter(prefix="/threads", tags=["Assistants"])


def threads(request: Request) -> Threads:
    return request.app.state.assistants.threads


@router.post("")
async def create_thread(request: Request, owner: Owner) -> Any:
    return dump(await call(threads(request).create, owner, await json_body(request)))


@router.get("/{thread_id}")
async def retrieve_thread(thread_id: str, request: Request, owner: Owner) -> Any:
    return dump(await call(threads(request).retrieve, owner, thread_id))


@router.post("/{thread_id}")
async def modify_thread(thread_id: str, request: Request, owner: Owner) -> Any:
    body = await json_body(request)
    return dump(await call(threads(request).update, owner, thread_id, body))


@router.delete("/{thread_id}")
async def delete_thread(thread_id: str, request: Request, owner: Owner) -> Any:
    return dump(await call(threads(request).delete, owner, thread_id))
