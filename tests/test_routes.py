"""Route order that matters is structural: ``POST /threads/runs`` never modifies thread "runs"."""

from __future__ import annotations

from assistants.scripted_backend import ScriptedBackend
from fastapi.testclient import TestClient

from nbext.api.routers import ROUTERS
from nbext.api.runs.router import create_and_run_router
from nbext.api.threads.router import router as threads_router
from nbext.server.app import create_app


def test_create_and_run_is_included_before_the_threads_router():
    assert ROUTERS.index(create_and_run_router) < ROUTERS.index(threads_router)


def test_post_threads_runs_creates_a_thread_and_runs_it():
    with TestClient(create_app(ScriptedBackend())) as client:
        answer = client.post("/v1/threads/runs", json={"assistant_id": "asst_nope"})
        assert answer.status_code == 404
        assert answer.json()["error"]["message"] == "No assistant found with id 'asst_nope'."
        assert client.post("/v1/threads/thread_nope", json={}).json()["error"]["message"] == (
            "No thread found with id 'thread_nope'."
        )
