"""Runs and run steps, plus nbext's two windows into a run.

``/context`` (which thread messages the run sent, which truncation dropped)
and ``/prompts`` (the exact Chat Completions requests it made) are nbext's own
additions under a run's URL; the standard objects keep their shapes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from nbext.server.auth import require_owner
from nbext.server.routes.common import (
    call,
    dump,
    json_body,
    query,
    run_events,
    service,
    wants_stream,
)

router = APIRouter(prefix="/threads")


@router.post("/runs")
async def create_thread_and_run(request: Request, owner: str = Depends(require_owner)) -> Any:
    body = await json_body(request)
    runs = service(request)
    if wants_stream(body):
        return await run_events(await call(runs.stream_thread_and_run, owner, body))
    return dump(await call(runs.create_thread_and_run, owner, body))


@router.post("/{thread_id}/runs")
async def create_run(thread_id: str, request: Request, owner: str = Depends(require_owner)) -> Any:
    body = await json_body(request)
    runs = service(request)
    if wants_stream(body):
        return await run_events(await call(runs.stream_run, owner, thread_id, body))
    return dump(await call(runs.create_run, owner, thread_id, body))


@router.get("/{thread_id}/runs")
async def list_runs(thread_id: str, request: Request, owner: str = Depends(require_owner)) -> Any:
    return dump(await call(service(request).list_runs, owner, thread_id, query(request)))


@router.get("/{thread_id}/runs/{run_id}")
async def retrieve_run(
    thread_id: str, run_id: str, request: Request, owner: str = Depends(require_owner)
) -> Any:
    return dump(await call(service(request).retrieve_run, owner, thread_id, run_id))


@router.post("/{thread_id}/runs/{run_id}")
async def modify_run(
    thread_id: str, run_id: str, request: Request, owner: str = Depends(require_owner)
) -> Any:
    body = await json_body(request)
    return dump(await call(service(request).modify_run, owner, thread_id, run_id, body))


@router.post("/{thread_id}/runs/{run_id}/cancel")
async def cancel_run(
    thread_id: str, run_id: str, request: Request, owner: str = Depends(require_owner)
) -> Any:
    return dump(await call(service(request).cancel_run, owner, thread_id, run_id))


@router.post("/{thread_id}/runs/{run_id}/submit_tool_outputs")
async def submit_tool_outputs(
    thread_id: str, run_id: str, request: Request, owner: str = Depends(require_owner)
) -> Any:
    body = await json_body(request)
    runs = service(request)
    if wants_stream(body):
        return await run_events(
            await call(runs.stream_submit_tool_outputs, owner, thread_id, run_id, body)
        )
    return dump(await call(runs.submit_tool_outputs, owner, thread_id, run_id, body))


@router.get("/{thread_id}/runs/{run_id}/steps")
async def list_run_steps(
    thread_id: str, run_id: str, request: Request, owner: str = Depends(require_owner)
) -> Any:
    return dump(
        await call(service(request).list_run_steps, owner, thread_id, run_id, query(request))
    )


@router.get("/{thread_id}/runs/{run_id}/steps/{step_id}")
async def retrieve_run_step(
    thread_id: str, run_id: str, step_id: str, request: Request, owner: str = Depends(require_owner)
) -> Any:
    return dump(
        await call(
            service(request).retrieve_run_step, owner, thread_id, run_id, step_id, query(request)
        )
    )


@router.get("/{thread_id}/runs/{run_id}/context")
async def run_context(
    thread_id: str, run_id: str, request: Request, owner: str = Depends(require_owner)
) -> Any:
    return dump(await call(service(request).get_run_context, owner, thread_id, run_id))


@router.get("/{thread_id}/runs/{run_id}/prompts")
async def run_prompts(
    thread_id: str, run_id: str, request: Request, owner: str = Depends(require_owner)
) -> Any:
    return dump(await call(service(request).list_run_prompts, owner, thread_id, run_id))
