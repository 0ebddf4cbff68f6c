"""``/v1/nbext/...``: the kit's own routes, for ``%nbext`` (not part of OpenAI's API).

The backend lives in the server process, so the magics ask the server what it
runs and tell it to switch, over HTTP like every other call; they never reach
into its objects.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, replace
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from nbext import __version__
from nbext.api.admin.protocol import BackendChoice
from nbext.backends import backend_from_settings
from nbext.backends.aliases import AliasedBackend, ModelAliases, with_aliases
from nbext.backends.base import ChatBackend
from nbext.config import Settings
from nbext.errors import APIError

router = APIRouter(prefix="/nbext", include_in_schema=False, tags=["nbext"])
_STARTED = time.time()


def status(backend: ChatBackend) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "version": __version__,
        "pid": os.getpid(),
        "started": int(_STARTED),
        "backend": backend.description,
        "model": backend.default_model,
        "context_window": backend.context_window,
        "token_counting": backend.token_counting,
    }
    threads = getattr(backend, "threads", None)
    if threads is not None:
        facts["threads"] = threads
    if isinstance(backend, AliasedBackend):
        facts["model_aliases"] = backend.describe_aliases()
    return facts


@router.get("/status")
async def get_status(request: Request) -> dict[str, Any]:
    facts = status(request.app.state.backend)
    # The limits this server's kernels run under (NBEXT_CODE_*, nbext serve --code-*).
    facts["code_limits"] = asdict(request.app.state.tools.code_interpreter.limits)
    return facts


@router.put("/backend")
async def put_backend(request: Request, choice: BackendChoice) -> dict[str, Any]:
    if request.app.state.api_keys:
        raise APIError(
            "This is a shared server: its backend is chosen where `nbext serve` runs "
            "(NBEXT_BACKEND_URL there), not by a participant.",
            status=403,
            type="permission_error",
        )
    settings = Settings.from_env()
    if choice.target == "embedded":
        chosen = settings.embedded()
    else:
        chosen = replace(
            settings,
            backend_url=choice.target,
            backend_key=choice.key or settings.backend_key,
            model=choice.model or settings.model,
        )
    backend = with_aliases(
        backend_from_settings(chosen), ModelAliases.parse(settings.model_aliases)
    )
    # Fail here, with the reason, rather than on the next call.
    await run_in_threadpool(backend.list_models)
    request.app.state.backend = backend
    await run_in_threadpool(request.app.state.assistants.use_backend, backend)
    return status(backend)
