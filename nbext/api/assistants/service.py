"""Assistants: model + instructions + tools, stored server-side."""

from __future__ import annotations

from openai.types.beta import (
    Assistant,
    AssistantCreateParams,
    AssistantDeleted,
    AssistantUpdateParams,
)

from nbext.api import objects
from nbext.engine.lifecycle import Runtime
from nbext.store import ASSISTANTS, ListQuery, Page


class Assistants:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def create(self, owner: str, body: AssistantCreateParams) -> Assistant:
        resolved = self.rt.tools.resolve_resources(owner, body)
        assistant = objects.new_assistant(resolved, self.rt.now())
        self.rt.store.insert(ASSISTANTS, owner, assistant)
        return assistant

    def retrieve(self, owner: str, assistant_id: str) -> Assistant:
        return self.rt.store.get(ASSISTANTS, owner, assistant_id)

    def update(self, owner: str, assistant_id: str, body: AssistantUpdateParams) -> Assistant:
        changes = self.rt.tools.resolve_resources(owner, body)
        assistant = objects.modified(self.retrieve(owner, assistant_id), changes)
        self.rt.store.update(ASSISTANTS, assistant)
        return assistant

    def delete(self, owner: str, assistant_id: str) -> AssistantDeleted:
        self.rt.store.delete(ASSISTANTS, owner, assistant_id)
        return AssistantDeleted(id=assistant_id, object="assistant.deleted", deleted=True)

    def list(self, owner: str, page: ListQuery | None = None) -> Page[Assistant]:
        return self.rt.store.list(ASSISTANTS, owner, page or ListQuery())
