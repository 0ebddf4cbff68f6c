"""Runs and run steps, plus nbext's two windows into a run.

``/context`` (which thread messages the run sent, which truncation dropped)
and ``/prompts`` (the exact Chat Completions requests it made) are nbext's own
additions under a run's URL; the standard objects keep their shapes.

Two routers: :data:`create_and_run_router` (``POST /threads/runs``) must be
included before the threads router, whose ``/threads/{thread_id}`` would
otherwise read it as "modify thread 'runs'"; :data:`router` is the rest.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from openai.types.beta.thread_create_and_run_params import ThreadCreateAndRunParamsBase
from openai.types.beta.threads import Run, RunUpdateParams
from openai.types.beta.threads.run_create_params import RunCreateParamsBase
from openai.types.beta.threads.run_submit_tool_outputs_params import (
    RunSubmitToolOutputsParamsBase,
)
from openai.types.beta.threads.runs import RunStep

from nbext.api.edge import (
    Owner,
    accepts,
    call,
    dump,
    listing,
    parsed,
    run_events,
    wants_stream,
)
from nbext.api.params import METADATA_ONLY
from nbext.api.runs.protocol import RUN_CREATE, SUBMIT_TOOL_OUTPUTS, THREAD_AND_RUN_CREATE
from nbext.api.runs.service import Runs, Steps
from nbext.api.validation import invalid_choice
from nbext.protocol import INCLUDE_FILE_SEARCH_CONTENT
from nbext.store import ListQuery, Page
from nbext.store.records import RunContext, RunPrompt

create_and_run_router = APIRouter(prefix="/threads", tags=["Assistants"])
router = APIRouter(prefix="/threads/{thread_id}/runs", tags=["Assistants"])

_INCLUDE = ("include", "include[]")
"""How a client may spell ``include`` in a steps query (the SDK sends ``include[]``)."""


def runs(request: Request) -> Runs:
    return request.app.state.assistants.runs


def steps(request: Request) -> Steps:
    return request.app.state.assistants.steps


def include(request: Request) -> list[str]:
    """The steps' ``include[]`` values: OpenAI knows one, any other is a 400."""
    wanted = [value for key in _INCLUDE for value in request.query_params.getlist(key)]
    for value in wanted:
        if value != INCLUDE_FILE_SEARCH_CONTENT:
            raise invalid_choice("include[]", value, (INCLUDE_FILE_SEARCH_CONTENT,))
    return wanted


@create_and_run_router.post(
    "/runs", response_model=Run, openapi_extra=accepts(ThreadCreateAndRunParamsBase)
)
async def create_thread_and_run(
    request: Request,
    owner: Owner,
    body: Annotated[ThreadCreateAndRunParamsBase, parsed(THREAD_AND_RUN_CREATE)],
) -> Response:
    if wants_stream(body):
        return await run_events(await call(runs(request).stream_create_and_run, owner, body))
    return dump(await call(runs(request).create_and_run, owner, body))


@router.post("", response_model=Run, openapi_extra=accepts(RunCreateParamsBase))
async def create_run(
    thread_id: str,
    request: Request,
    owner: Owner,
    body: Annotated[RunCreateParamsBase, parsed(RUN_CREATE)],
) -> Response:
    if wants_stream(body):
        return await run_events(await call(runs(request).stream, owner, thread_id, body))
    return dump(await call(runs(request).create, owner, thread_id, body))


@router.get("", response_model=Page[Run])
async def list_runs(
    thread_id: str, request: Request, owner: Owner, page: Annotated[ListQuery, listing()]
) -> Response:
    return dump(await call(runs(request).list, owner, thread_id, page))


@router.get("/{run_id}", response_model=Run)
async def retrieve_run(thread_id: str, run_id: str, request: Request, owner: Owner) -> Response:
    return dump(await call(runs(request).retrieve, owner, thread_id, run_id))


@router.post(
    "/{run_id}", response_model=Run, openapi_extra=accepts(RunUpdateParams, path=("thread_id",))
)
async def modify_run(
    thread_id: str,
    run_id: str,
    request: Request,
    owner: Owner,
    body: Annotated[RunUpdateParams, parsed(METADATA_ONLY)],
) -> Response:
    return dump(await call(runs(request).update, owner, thread_id, run_id, body))


@router.post("/{run_id}/cancel", response_model=Run)
async def cancel_run(thread_id: str, run_id: str, request: Request, owner: Owner) -> Response:
    return dump(await call(runs(request).cancel, owner, thread_id, run_id))


@router.post(
    "/{run_id}/submit_tool_outputs",
    response_model=Run,
    openapi_extra=accepts(RunSubmitToolOutputsParamsBase, path=("thread_id",)),
)
async def submit_tool_outputs(
    thread_id: str,
    run_id: str,
    request: Request,
    owner: Owner,
    body: Annotated[RunSubmitToolOutputsParamsBase, parsed(SUBMIT_TOOL_OUTPUTS)],
) -> Response:
    service = runs(request)
    if wants_stream(body):
        return await run_events(
            await call(service.stream_submit_tool_outputs, owner, thread_id, run_id, body)
        )
    return dump(await call(service.submit_tool_outputs, owner, thread_id, run_id, body))


@router.get("/{run_id}/steps", response_model=Page[RunStep])
async def list_run_steps(
    thread_id: str,
    run_id: str,
    request: Request,
    owner: Owner,
    page: Annotated[ListQuery, listing(*_INCLUDE)],
) -> Response:
    wanted = include(request)
    return dump(await call(steps(request).list, owner, thread_id, run_id, page, wanted))


@router.get("/{run_id}/steps/{step_id}", response_model=RunStep)
async def retrieve_run_step(
    thread_id: str, run_id: str, step_id: str, request: Request, owner: Owner
) -> Response:
    wanted = include(request)
    return dump(await call(steps(request).retrieve, owner, thread_id, run_id, step_id, wanted))


@router.get("/{run_id}/context", response_model=RunContext, tags=["nbext"])
async def run_context(thread_id: str, run_id: str, request: Request, owner: Owner) -> Response:
    return dump(await call(runs(request).context, owner, thread_id, run_id))


@router.get("/{run_id}/prompts", response_model=Page[RunPrompt], tags=["nbext"])
async def run_prompts(thread_id: str, run_id: str, request: Request, owner: Owner) -> Response:
    return dump(await call(runs(request).prompts, owner, thread_id, run_id))
