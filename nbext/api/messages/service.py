"""Messages of a thread: written by the caller, or by a run."""

from __future__ import annotations

from openai.types.beta.threads import (
    Message,
    MessageCreateParams,
    MessageDeleted,
    MessageUpdateParams,
)

from nbext.api import objects
from nbext.engine.lifecycle import Runtime, active_run
from nbext.errors import invalid
from nbext.store import MESSAGES, THREADS, ListQuery, Page


class Messages:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def create(self, owner: str, thread_id: str, body: MessageCreateParams) -> Message:
        self.rt.tools.hooks.check_attachments(owner, body.get("attachments") or [])
        with self.rt.lock:
            self.rt.store.get(THREADS, owner, thread_id)
            active = active_run(self.rt, thread_id)
            if active is not None:
                raise invalid(
                    f"Can't add messages to {thread_id} while a run {active.id} is active."
                )
            message = objects.new_message(body, thread_id, self.rt.now())
            self.rt.store.insert(MESSAGES, owner, message, **self.rt.message_columns(message))
        self.rt.tools.hooks.messages_created(owner, thread_id, [message])
        return message

    def list(
        self,
        owner: str,
        thread_id: str,
        page: ListQuery | None = None,
        run_id: str | None = None,
    ) -> Page[Message]:
        """Newest first by default; ``run_id`` keeps only the messages a run wrote."""
        self.rt.store.get(THREADS, owner, thread_id)
        where = {"run_id": run_id} if run_id else {}
        return self.rt.store.list(
            MESSAGES, owner, page or ListQuery(), thread_id=thread_id, **where
        )

    def retrieve(self, owner: str, thread_id: str, message_id: str) -> Message:
        return self.rt.store.get(MESSAGES, owner, message_id, thread_id=thread_id)

    def update(
        self, owner: str, thread_id: str, message_id: str, body: MessageUpdateParams
    ) -> Message:
        message = objects.modified(self.retrieve(owner, thread_id, message_id), body)
        self.rt.store.update(MESSAGES, message)
        return message

    def delete(self, owner: str, thread_id: str, message_id: str) -> MessageDeleted:
        self.rt.store.delete(MESSAGES, owner, message_id, thread_id=thread_id)
        return MessageDeleted(id=message_id, object="thread.message.deleted", deleted=True)
