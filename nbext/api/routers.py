"""Every router of the API, in the order the app includes them.

The order matters once: ``POST /threads/runs`` (create a thread and run it)
is also matched by ``POST /threads/{thread_id}`` (modify a thread), so the
runs package's ``create_and_run_router`` stands before the threads router.
``tests/test_routes.py`` fails if it does not.
"""

from __future__ import annotations

from fastapi import APIRouter

from nbext.api.admin import router as admin
from nbext.api.assistants import router as assistants
from nbext.api.chat import router as chat
from nbext.api.embeddings import router as embeddings
from nbext.api.files import router as files
from nbext.api.messages import router as messages
from nbext.api.runs import router as runs
from nbext.api.threads import router as threads
from nbext.api.vector_stores import router as vector_stores

ROUTERS: tuple[APIRouter, ...] = (
    chat.router,
    assistants.router,
    runs.create_and_run_router,
    threads.router,
    messages.router,
    runs.router,
    files.router,
    vector_stores.router,
    embeddings.router,
    admin.router,
)
"""Included under ``/v1`` by :func:`nbext.server.app.create_app`, in this order."""
