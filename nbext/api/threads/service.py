"""Threads: the conversation the server keeps for you."""

from __future__ import annotations

from typing import Any

from openai.types.beta import Thread, ThreadCreateParams, ThreadDeleted, ThreadUpdateParams

from nbext.api import objects
from nbext.engine.lifecycle import ACTIVE, Runtime
from nbext.store import CONTEXTS, MESSAGES, PROMPTS, RUN_STEPS, RUNS, THREADS, Kind


class Threads:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def create(self, owner: str, body: ThreadCreateParams | None = None) -> Thread:
        """A thread with its first messages (also the thread of ``POST /threads/runs``)."""
        now = self.rt.now()
        resolved = self.rt.tools.resolve_resources(owner, body or {})
        for m in resolved.get("messages") or []:
            self.rt.tools.hooks.check_attachments(owner, m.get("attachments") or [])
        thread = objects.new_thread(resolved, now)
        messages = [objects.new_message(m, thread.id, now) for m in resolved.get("messages") or []]
        self.rt.store.insert(THREADS, owner, thread)
        self.rt.store.insert_many(
            MESSAGES, owner, [(m, self.rt.message_columns(m)) for m in messages]
        )
        self.rt.tools.hooks.messages_created(owner, thread.id, messages)
        return self.rt.store.get(THREADS, owner, thread.id)  # attachments may have added resources

    def retrieve(self, owner: str, thread_id: str) -> Thread:
        return self.rt.store.get(THREADS, owner, thread_id)

    def update(self, owner: str, thread_id: str, body: ThreadUpdateParams) -> Thread:
        changes = self.rt.tools.resolve_resources(owner, body)
        thread = objects.modified(self.retrieve(owner, thread_id), changes)
        self.rt.store.update(THREADS, thread)
        return thread

    def delete(self, owner: str, thread_id: str) -> ThreadDeleted:
        """Delete the thread and everything in it; a run still going is told to stop."""
        self.retrieve(owner, thread_id)
        with self.rt.lock:
            for run in self.rt.store.all(RUNS, thread_id=thread_id, status=ACTIVE):
                self.rt.cancel_requests.add(run.id)
            kinds: tuple[Kind[Any], ...] = (MESSAGES, RUNS, RUN_STEPS, PROMPTS, CONTEXTS)
            for kind in kinds:
                self.rt.store.delete_where(kind, thread_id=thread_id)
            self.rt.store.delete(THREADS, owner, thread_id)
        self.rt.tools.hooks.thread_deleted(owner, thread_id)
        return ThreadDeleted(id=thread_id, object="thread.deleted", deleted=True)
