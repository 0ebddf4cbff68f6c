"""Runs and run steps, plus nbext's two windows into a run.

``/context`` (which thread messages the run sent, which truncation dropped)
and ``/prompts`` (the exact Chat Completions requests it made) are nbext's own
additions under a run's URL; the standard objects keep their shapes.

Two routers: :data:`create_and_run_router` (``POST /threads/runs``) must be
included before the threads router, whose ``/threads/{thread_id}`` would
otherwise read it as "modify thread 'runs'"; :data:`router` is the rest.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from nbext.api.edge import Owner, call, dump, json_body, query, run_events, wants_stream
from nbext.api.runs.service import Runs, Steps

create_and_run_router = APIRouter(prefix="/threads", tags=["Assistants"])
router = APIRouter(prefix="/threads/{thread_id}/runs", tags=["Assistants"])


def runs(request: Request) -> Runs:
    return request.app.state.assistants.runs


def steps(request: Request) -> Steps:
    return request.app.state.assistants.steps


@create_and_run_router.post("/runs")
async def create_thread_and_run(request: Request, owner: Owner) -> Any:
    body = await json_body(request)
    if wants_stream(body):
        return await run_events(await call(runs(request).stream_create_and_run, owner, body))
    return dump(await call(runs(request).create_and_run, owner, body))


@router.post("")
async def create_run(thread_id: str, request: Request, owner: Owner) -> Any:
    body = await json_body(request)
    if wants_stream(body):
        return await run_events(await call(runs(request).stream, owner, thread_id, body))
    return dump(await call(runs(request).create, owner, thread_id, body))


@router.get("")
async def list_runs(thread_id: str, request: Request, owner: Owner) -> Any:
    return dump(await call(runs(request).list, owner, thread_id, query(request)))


@router.get("/{run_id}")
async def retrieve_run(thread_id: str, run_id: str, request: Request, owner: Owner) -> Any:
    return dump(await call(runs(request).retrieve, owner, thread_id, run_id))


@router.post("/{run_id}")
async def modify_run(thread_id: str, run_id: str, request: Request, owner: Owner) -> Any:
    body = await json_body(request)
    return dump(await call(runs(request).update, owner, thread_id, run_id, body))


@router.post("/{run_id}/cancel")
async def cancel_run(thread_id: str, run_id: str, request: Request, owner: Owner) -> Any:
    return dump(await call(runs(request).cancel, owner, thread_id, run_id))


@router.post("/{run_id}/submit_tool_outputs")
async def submit_tool_outputs(thread_id: str, run_id: str, request: Request, owner: Owner) -> Any:
    body = await json_body(request)
    service = runs(request)
    if wants_stream(body):
        return await run_events(
            await call(service.stream_submit_tool_outputs, owner, thread_id, run_id, body)
        )
    return dump(await call(service.submit_tool_outputs, owner, thread_id, run_id, body))


@router.get("/{run_id}/steps")
async def list_run_steps(thread_id: str, run_id: str, request: Request, owner: Owner) -> Any:
    return dump(await call(steps(request).list, owner, thread_id, run_id, query(request)))


@router.get("/{run_id}/steps/{step_id}")
async def retrieve_run_step(
    thread_id: str, run_id: str, step_id: str, request: Request, owner: Owner
) -> Any:
    return dump(
        await call(steps(request).retrieve, owner, thread_id, run_id, step_id, query(request))
    )


@router.get("/{run_id}/context")
async def run_context(thread_id: str, run_id: str, request: Request, owner: Owner) -> Any:
    return dump(await call(runs(request).context, owner, thread_id, run_id))


@router.get("/{run_id}/prompts")
async def run_prompts(thread_id: str, run_id: str, request: Request, owner: Owner) -> Any:
    return dump(await call(runs(request).prompts, owner, thread_id, run_id))
