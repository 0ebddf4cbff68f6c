"""Every failure leaves the server as ``{"error": {...}}`` with OpenAI's status.

Clients (the ``openai`` SDK first of all) map the status to an exception class
and show ``message``; a Python traceback is never part of a response.
"""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException

from nbext.errors import APIError
from nbext.server.auth import require_owner

log = logging.getLogger("nbext.server")


def error_response(error: APIError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status)


def _validation_message(error: RequestValidationError) -> APIError:
    first = error.errors()[0]
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    param = ".".join(location) or None
    if first.get("type") == "extra_forbidden":
        message = f"Unrecognized request argument supplied: {param}"
    elif first.get("type") == "json_invalid":
        message = "We could not parse the JSON body of your request."
        param = None
    else:
        message = f"Invalid value for '{param}': {first.get('msg', 'invalid')}."
    return APIError(message, status=400, param=param)


_FASTAPI_BODY_ERROR = "There was an error parsing the body"


def _allowed_methods(request: Request) -> str:
    """A 405's ``Allow`` (RFC 9110): every method the URL takes. Starlette's own
    names only those of the first route on the path, which has one method here."""
    matches: dict[int, set[str]] = {}
    for template, operations in request.app.openapi()["paths"].items():
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, request.url.path):
            methods = matches.setdefault(template.count("{"), set())
            methods.update(method.upper() for method in operations)
    # /threads/runs is its own URL, not /threads/{thread_id} with the id "runs".
    return ", ".join(sorted(matches[min(matches)])) if matches else ""


def install_error_handlers(app: FastAPI) -> None:
    async def on_api_error(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, APIError)
        return error_response(error)

    async def on_invalid_body(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return error_response(_validation_message(error))

    async def on_http_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        if request.url.path.startswith("/v1/"):
            # Routing answers 404/405 before the router's key check runs: without
            # this, a caller with no key would learn which URLs and methods exist.
            try:
                await require_owner(request)
            except APIError as refused:
                return error_response(refused)
        if error.status_code == 404:
            message = f"Invalid URL ({request.method} {request.url.path})"
        elif error.detail == _FASTAPI_BODY_ERROR:
            # FastAPI's words when the body is not UTF-8 or nested past the parser's stack.
            message = (
                "We could not parse the JSON body of your request: it must be a JSON object "
                "in UTF-8 text, not nested too deeply."
            )
        else:
            message = str(error.detail)
        kind = "invalid_request_error" if error.status_code < 500 else "server_error"
        response = error_response(APIError(message, status=error.status_code, type=kind))
        if error.status_code == 405:
            # (a model id may hold a '/', which no template here matches: Starlette's then)
            given = (error.headers or {}).get("Allow", "")
            response.headers["Allow"] = _allowed_methods(request) or given
        return response

    async def on_crash(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error in %s %s", request.method, request.url.path)
        return error_response(
            APIError(
                "The server had an error while processing your request "
                f"({type(error).__name__}). The server log has the details.",
                status=500,
                type="server_error",
            )
        )

    async def on_database_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, OperationalError)
        reason = str(error.orig).lower()
        if "locked" in reason or "busy" in reason:
            # Another process (a backup, a sqlite3 shell) held the write lock for
            # longer than the busy timeout: nothing was written, a retry may work.
            return error_response(
                APIError(
                    "The server's database is locked by another process; nothing was "
                    "changed. Try again in a moment.",
                    status=503,
                    type="server_error",
                )
            )
        if "full" in reason:
            return error_response(
                APIError(
                    "The server's disk is full; nothing was changed.",
                    status=507,
                    type="server_error",
                )
            )
        return await on_crash(request, error)

    app.add_exception_handler(APIError, on_api_error)
    app.add_exception_handler(OperationalError, on_database_error)
    app.add_exception_handler(RequestValidationError, on_invalid_body)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(Exception, on_crash)
