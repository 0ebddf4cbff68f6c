"""The ASGI application: OpenAI-compatible routes over one backend and one store.

The app holds its backend in ``app.state`` so ``%nbext backend ...`` can swap
the model under a running server without restarting it (``PUT
/v1/nbext/backend``, :mod:`nbext.server.routes.admin`).

Files live under a data directory: ``<home>/files`` (uploads and tool
outputs) and ``<home>/sandboxes`` (code_interpreter working directories).
``home=None`` (tests, a throwaway server) uses a temporary directory that is
removed when the app shuts down.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI

from nbext import __version__
from nbext.assistants.files import DEFAULT_MAX_FILE_BYTES, FilesService
from nbext.assistants.service import AssistantsService
from nbext.assistants.vector_stores import VectorStoresService
from nbext.backends.base import ChatBackend
from nbext.server.auth import require_owner
from nbext.server.errors import install_error_handlers
from nbext.server.routes import (
    admin,
    assistants,
    chat,
    embeddings,
    files,
    runs,
    threads,
    vector_stores,
)
from nbext.store import Store
from nbext.tools.builtin import BuiltinTools
from nbext.tools.code_interpreter import Limits
from nbext.tools.registry import ToolRegistry


def create_app(
    backend: ChatBackend,
    *,
    db_url: str | None = None,
    api_keys: tuple[str, ...] = (),
    local_key: str | None = None,
    home: Path | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    code_limits: Limits | None = None,
) -> FastAPI:
    """Build the server; ``api_keys`` empty means a single local user.

    ``local_key`` is the per-user local server's key (one owner, but only
    callers who can read the user's key file get in).

    ``db_url`` is any SQLAlchemy URL; ``None`` means a SQLite file in the data
    directory (a file, not ``sqlite://``: an in-memory database is one shared
    connection, which the server's threads cannot use at once safely).
    ``home`` is the data directory (``NBEXT_HOME``); ``None`` means a temporary
    one. ``max_file_bytes`` caps uploads; ``code_limits`` are code_interpreter's
    per-kernel limits (time, memory, processes).
    """
    scratch = None if home is not None else Path(tempfile.mkdtemp(prefix="nbext-data-"))
    data_dir = Path(home) if home is not None else scratch
    assert data_dir is not None
    store = Store(db_url or f"sqlite:///{data_dir / 'nbext.sqlite3'}")
    file_service = FilesService(store, data_dir / "files", max_bytes=max_file_bytes)
    store_service = VectorStoresService(store, file_service)
    tools = BuiltinTools(
        store, file_service, store_service, data_dir / "sandboxes", limits=code_limits
    )
    service = AssistantsService(store, backend, tools=tools.register(ToolRegistry()))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()
        tools.shutdown()
        store_service.close()
        store.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)

    keyed = bool(api_keys or local_key)
    # With keys, the interactive docs and the schema are not for anyone
    # passing by: they would be the one thing answering without a key.
    docs = {} if not keyed else {"docs_url": None, "redoc_url": None, "openapi_url": None}
    app = FastAPI(
        title="nbext local OpenAI-compatible server",
        version=__version__,
        lifespan=lifespan,
        **docs,  # type: ignore[arg-type]
    )
    app.state.backend = backend
    app.state.assistants = service
    app.state.files = file_service
    app.state.vector_stores = store_service
    app.state.tools = tools
    app.state.api_keys = api_keys
    app.state.local_key = local_key
    install_error_handlers(app)

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_owner)])
    v1.include_router(chat.router)
    v1.include_router(assistants.router)
    # Before threads: POST /threads/runs must not be read as "modify thread 'runs'".
    v1.include_router(runs.router)
    v1.include_router(threads.router)
    v1.include_router(files.router)
    v1.include_router(vector_stores.router)
    v1.include_router(embeddings.router)
    v1.include_router(admin.router)
    app.include_router(v1)

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        # Open (load balancers, start-up polls), so it says nothing but "alive":
        # what the server runs is at /v1/nbext/status, behind the key.
        return {"status": "ok"}

    return app
