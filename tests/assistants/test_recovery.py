"""Start-up recovery: a second service on the same database cleans up after a dead one."""

from __future__ import annotations

import os
import socket
import threading

from sqlalchemy import update

from nbext.api.services import AssistantsService
from nbext.store import RUNS, Store
from nbext.store.tables import run_workers

from .helpers import OWNER, WEATHER, FakeClock, wait_run
from .scripted_backend import Reply, ScriptedBackend


def test_runs_of_a_dead_process_fail_or_expire(db_url, clock: FakeClock):
    gate = threading.Event()
    backend = ScriptedBackend()
    first = AssistantsService(Store(db_url), backend, clock=clock)
    try:
        assistant = first.assistants.create(OWNER, {"model": "scripted", "tools": [WEATHER]})
        waiting_thread = first.threads.create(
            OWNER, {"messages": [{"role": "user", "content": "a"}]}
        )
        busy_thread = first.threads.create(OWNER, {"messages": [{"role": "user", "content": "b"}]})
        backend.script(Reply(tool_calls=[("get_weather", {"city": "Kyiv"})]))
        waiting = wait_run(
            first, first.runs.create(OWNER, waiting_thread.id, {"assistant_id": assistant.id})
        )
        assert waiting.status == "requires_action"
        backend.script(Reply(text="never finished", gate=gate))
        busy = first.runs.create(OWNER, busy_thread.id, {"assistant_id": assistant.id})
        assert backend.streaming.wait(5)

        # "Restart": a new service on the same file, while the first one is frozen.
        second = AssistantsService(Store(db_url), ScriptedBackend(), clock=clock)
        busy = second.runs.retrieve(OWNER, busy_thread.id, busy.id)
        assert busy.status == "failed" and busy.failed_at
        assert busy.last_error.code == "server_error"
        assert busy.last_error.message == "the server restarted while this run was in progress"
        message = second.messages.list(OWNER, busy_thread.id, run_id=busy.id).data[0]
        assert message.status == "incomplete" and message.incomplete_details.reason == "run_failed"
        # A run waiting for tool outputs survives a restart...
        waited = second.runs.retrieve(OWNER, waiting_thread.id, waiting.id)
        assert waited.status == "requires_action"
        second.close()

        # ...until it is past expires_at.
        clock.advance(601)
        third = AssistantsService(Store(db_url), ScriptedBackend(), clock=clock)
        # (read straight from the store: recovery, not a lazy check on retrieve, expired it)
        assert third.rt.store.get(RUNS, None, waiting.id).status == "expired"
        third.close()
    finally:
        gate.set()
        first.close()


def test_runs_of_another_live_process_are_left_alone(db_url, clock: FakeClock):
    """Two kernels on one database: a server starting must not fail the other's runs."""
    gate = threading.Event()
    backend = ScriptedBackend()
    first = AssistantsService(Store(db_url), backend, clock=clock)
    try:
        assistant = first.assistants.create(OWNER, {"model": "scripted"})
        thread = first.threads.create(OWNER, {"messages": [{"role": "user", "content": "b"}]})
        backend.script(Reply(text="still working", gate=gate))
        busy = first.runs.create(OWNER, thread.id, {"assistant_id": assistant.id})
        assert backend.streaming.wait(5)
        # As if another live process (this test's parent) had claimed the run.
        with first.rt.store.engine.begin() as conn:
            conn.execute(
                update(run_workers)
                .where(run_workers.c.run_id == busy.id)
                .values(worker=f"{socket.gethostname()}:{os.getppid()}")
            )
        second = AssistantsService(Store(db_url), ScriptedBackend(), clock=clock)
        assert second.runs.retrieve(OWNER, thread.id, busy.id).status == "in_progress"
        second.close()
    finally:
        gate.set()
        first.close()
