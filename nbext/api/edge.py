"""What every route does at the edge: who calls, parse the request, call off the loop, answer.

A request is checked once, here: the body against its endpoint's contract
(:mod:`nbext.api.validation`, with OpenAI's wording), the query string into
a :class:`~nbext.store.ListQuery`; the services receive the typed result
(the ``openai`` SDK's own ``*Params`` types) and never check shapes again.
Responses are the SDK's own objects, written as OpenAI wrote them
(:func:`nbext.wire.to_wire`); routes declare them as ``response_model`` so
``/openapi.json`` describes the real API.

The caller's owner is decided by the server's key check (:mod:`nbext.server.auth`,
a dependency of the whole ``/v1`` router, which runs first and leaves it in
``request.state``); a route takes it as an :data:`Owner` parameter.

Routes are written out one by one and look alike on purpose: each is the
OpenAPI operation it declares (path, body type, answer type, tag), found by
its URL; a table that generated them would hide exactly that.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, TypeAdapter
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from nbext.api.sse import event_stream
from nbext.api.validation import Check, validate
from nbext.engine.events import Event, event_json
from nbext.errors import invalid
from nbext.store import ListQuery
from nbext.wire import to_wire

T = TypeVar("T")


def _owner(request: Request) -> str:
    owner: str = request.state.owner
    return owner


Owner = Annotated[str, Depends(_owner)]
"""The caller's owner id (whoever the API key belongs to)."""


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object; an empty body counts as ``{}`` (as OpenAI allows)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except UnicodeDecodeError:
        raise invalid("The request body is not UTF-8 text: send JSON encoded as UTF-8.") from None
    except json.JSONDecodeError:
        raise invalid(
            "We could not parse the JSON body of your request. The body must be a JSON object."
        ) from None
    except RecursionError:  # the parser's stack, not ours: a hostile or broken client
        raise invalid("The JSON body is nested too deeply.") from None
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    return body


def parsed(check: Check) -> Any:
    """A route parameter: the JSON body, checked against ``check``; annotate it with
    the SDK's ``*Params`` type the check produces."""

    async def body(request: Request) -> dict[str, Any]:
        return validate(await json_body(request), check)

    return Depends(body)


REQUEST_SCHEMAS: dict[str, Any] = {}
"""What documented request bodies refer to (``params.<Name>``): the app adds them to
the components of its ``/openapi.json``."""


def accepts(params: Any, *, path: tuple[str, ...] = ()) -> dict[str, Any]:
    """``openapi_extra`` documenting a route's body as the SDK's ``*Params`` type.

    The body is parsed by :func:`parsed`, not by FastAPI, so FastAPI cannot see
    it; ``path`` names the fields the SDK's type carries that the URL holds.
    """
    schema = TypeAdapter(params).json_schema(ref_template="#/components/schemas/params.{model}")
    REQUEST_SCHEMAS.update({f"params.{name}": d for name, d in schema.pop("$defs", {}).items()})
    for variant in [schema, *schema.get("anyOf", [])]:
        for name in path:
            variant.get("properties", {}).pop(name, None)
            if name in variant.get("required", []):
                variant["required"].remove(name)
    content = {"application/json": {"schema": schema}}
    return {"requestBody": {"required": True, "content": content}}


def query(request: Request) -> dict[str, str]:
    return dict(request.query_params)


def listing(*extra: str) -> Any:
    """A route parameter: the list query (``limit``, ``order``, ``after``, ``before``);
    ``extra`` names the endpoint's own filters, read from :func:`query`."""

    def page(request: Request) -> ListQuery:
        return ListQuery.parse(query(request), extra=extra)

    return Depends(page)


async def call(function: Callable[..., T], *args: Any) -> T:
    """Run a service method in the thread pool: it touches the database and may wait."""
    return await run_in_threadpool(function, *args)


def dump(value: BaseModel) -> JSONResponse:
    """The SDK object as OpenAI wrote it (a response, so ``response_model`` only documents)."""
    return JSONResponse(to_wire(value))


def wants_stream(body: Any) -> bool:
    """``stream`` is a transport choice, so the route takes it off the body."""
    return bool(body.pop("stream", None))


async def run_events(events: Iterator[Event]) -> EventSourceResponse:
    """A run's events as OpenAI sent them: ``event: name`` + ``data: json``, then ``done``."""

    def encode(event: Event) -> ServerSentEvent:
        return ServerSentEvent(event=event.event, data=event_json(event))

    return await event_stream(
        events, encode, done=ServerSentEvent(event="done", data="[DONE]"), error_event="error"
    )
