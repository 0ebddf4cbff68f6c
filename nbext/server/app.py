"""The ASGI application: OpenAI-compatible routes over one backend and one store.

The app holds its backend in ``app.state`` so ``%nbext backend ...`` can swap
the model under a running in-kernel server without restarting it (see
:func:`set_backend`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI

from nbext import __version__
from nbext.assistants.service import AssistantsService
from nbext.backends.base import ChatBackend
from nbext.server.auth import require_owner
from nbext.server.errors import install_error_handlers
from nbext.server.routes import assistants, chat, runs, threads
from nbext.store import Store


def create_app(
    backend: ChatBackend, *, db_url: str = "sqlite://", api_keys: tuple[str, ...] = ()
) -> FastAPI:
    """Build the server; ``api_keys`` empty means a single local user.

    ``db_url`` is any SQLAlchemy URL; the default keeps everything in memory.
    """
    store = Store(db_url)
    service = AssistantsService(store, backend)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()
        store.close()

    app = FastAPI(
        title="nbext local OpenAI-compatible server",
        version=__version__,
        lifespan=lifespan,
    )
    app.state.backend = backend
    app.state.assistants = service
    app.state.api_keys = api_keys
    install_error_handlers(app)

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_owner)])
    v1.include_router(chat.router)
    v1.include_router(assistants.router)
    # Before threads: POST /threads/runs must not be read as "modify thread 'runs'".
    v1.include_router(runs.router)
    v1.include_router(threads.router)
    app.include_router(v1)

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok", "backend": app.state.backend.description}

    return app


def set_backend(app: FastAPI, backend: ChatBackend) -> None:
    """Point the chat routes and the Assistants runtime at another backend."""
    app.state.backend = backend
    app.state.assistants.rt.backend = backend
