"""The ASGI application: OpenAI-compatible routes over one backend.

The app holds its backend in ``app.state`` so ``%nbext backend ...`` can swap
the model under a running in-kernel server without restarting it.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI

from nbext import __version__
from nbext.backends.base import ChatBackend
from nbext.server.auth import require_owner
from nbext.server.errors import install_error_handlers
from nbext.server.routes import chat


def create_app(backend: ChatBackend, *, api_keys: tuple[str, ...] = ()) -> FastAPI:
    """Build the server; ``api_keys`` empty means a single local user."""
    app = FastAPI(
        title="nbext local OpenAI-compatible server",
        version=__version__,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.backend = backend
    app.state.api_keys = api_keys
    install_error_handlers(app)

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_owner)])
    v1.include_router(chat.router)
    app.include_router(v1)

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok", "backend": app.state.backend.description}

    return app
