"""The ASGI application: OpenAI-compatible routes over one backend and one store.

The app holds its backend in ``app.state`` so ``%nbext backend ...`` can swap
the model under a running server without restarting it (``PUT
/v1/nbext/backend``, :mod:`nbext.api.admin.router`).

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
from typing import Any

from fastapi import APIRouter, Depends, FastAPI

from nbext import __version__
from nbext.api.edge import REQUEST_SCHEMAS
from nbext.api.files.service import DEFAULT_MAX_FILE_BYTES
from nbext.api.routers import ROUTERS
from nbext.api.services import build_services
from nbext.backends import backend_from_settings
from nbext.backends.aliases import ModelAliases, with_aliases
from nbext.backends.base import ChatBackend
from nbext.config import Settings
from nbext.server.auth import require_owner
from nbext.server.error_handlers import install_error_handlers
from nbext.store import Store
from nbext.tools.code_interpreter import Limits


def build_app(
    settings: Settings,
    *,
    backend: ChatBackend | None = None,
    api_keys: tuple[str, ...] = (),
    local_key: str | None = None,
) -> FastAPI:
    """The server as configured by ``NBEXT_*`` (``nbext serve``, the per-user local server).

    ``backend`` is the settings' backend unless given (already loaded, say).
    """
    settings.home.mkdir(parents=True, exist_ok=True)
    return create_app(
        backend if backend is not None else backend_from_settings(settings),
        db_url=settings.db_url,
        api_keys=api_keys,
        local_key=local_key,
        home=settings.home,
        model_aliases=ModelAliases.parse(settings.model_aliases),
        code_limits=settings.code_limits,
    )


def create_app(
    backend: ChatBackend,
    *,
    db_url: str | None = None,
    api_keys: tuple[str, ...] = (),
    local_key: str | None = None,
    home: Path | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    code_limits: Limits | None = None,
    model_aliases: ModelAliases | None = None,
) -> FastAPI:
    """Build the server; ``api_keys`` empty means a single local user.

    ``local_key`` is the per-user local server's key (one owner, but only
    callers who can read the user's key file get in).

    ``db_url`` is any SQLAlchemy URL; ``None`` means a SQLite file in the data
    directory (a file, not ``sqlite://``: an in-memory database is one shared
    connection, which the server's threads cannot use at once safely).
    ``home`` is the data directory (``NBEXT_HOME``); ``None`` means a temporary
    one. ``max_file_bytes`` caps uploads; ``code_limits`` are code_interpreter's
    per-kernel limits (time, memory, processes). ``model_aliases`` says which
    OpenAI model names the backend's model serves (``None``: the default table).
    """
    backend = with_aliases(backend, model_aliases)
    scratch = None if home is not None else Path(tempfile.mkdtemp(prefix="nbext-data-"))
    data_dir = Path(home) if home is not None else scratch
    assert data_dir is not None
    db_url = db_url or f"sqlite:///{data_dir / 'nbext.sqlite3'}"
    store = Store(db_url)
    services = build_services(
        store, backend, data_dir, max_file_bytes=max_file_bytes, code_limits=code_limits
    )
    _keep_private(data_dir, db_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        services.close()
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
    app.state.assistants = services.assistants
    app.state.files = services.files
    app.state.vector_stores = services.vector_stores
    app.state.vector_store_files = services.vector_store_files
    app.state.file_batches = services.file_batches
    app.state.tools = services.tools
    app.state.api_keys = api_keys
    app.state.local_key = local_key
    install_error_handlers(app)

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_owner)])
    for router in ROUTERS:  # in this order: see nbext.api.routers
        v1.include_router(router)
    app.include_router(v1)
    _document_request_bodies(app)

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        # Open (load balancers, start-up polls), so it says nothing but "alive":
        # what the server runs is at /v1/nbext/status, behind the key.
        return {"status": "ok"}

    return app


def _keep_private(data_dir: Path, db_url: str) -> None:
    """Nobody but the server's user reads the database and the uploads.

    Sandboxed kernels run as other uids (see nbext.tools.code_interpreter) and
    must not read what every key stored: the data directory can be traversed
    (a kernel's working directory lies under it) but not listed, the files
    directory and a SQLite database (with its WAL) are the server's alone.
    """
    data_dir.chmod(0o711)
    (data_dir / "files").chmod(0o700)
    if db_url.startswith("sqlite:///"):
        database = Path(db_url.removeprefix("sqlite:///"))
        for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
            if path.exists():
                path.chmod(0o600)


def _document_request_bodies(app: FastAPI) -> None:
    """``/openapi.json`` with the schemas the request bodies refer to (see ``edge.accepts``)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        document.setdefault("components", {}).setdefault("schemas", {}).update(REQUEST_SCHEMAS)
        return document

    app.openapi = openapi  # type: ignore[method-assign]
