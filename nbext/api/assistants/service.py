"""Assistants: model + instructions + tools, stored server-side."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openai.types.beta import Assistant, AssistantDeleted

from nbext.api import objects
from nbext.api.assistants.protocol import ASSISTANT_CREATE, ASSISTANT_MODIFY
from nbext.api.resources import resolve_resources
from nbext.api.validation import validate
from nbext.engine.lifecycle import Runtime
from nbext.store import ASSISTANTS, ListQuery, Page


class Assistants:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def create(self, owner: str, body: Any) -> Assistant:
        body = resolve_resources(self.rt, owner, validate(body, ASSISTANT_CREATE))
        assistant = objects.new_assistant(body, self.rt.now())
        self.rt.store.insert(ASSISTANTS, owner, assistant)
        return assistant

    def retrieve(self, owner: str, assistant_id: str) -> Assistant:
        return self.rt.store.get(ASSISTANTS, owner, assistant_id)

    def update(self, owner: str, assistant_id: str, body: Any) -> Assistant:
        changes = resolve_resources(self.rt, owner, validate(body, ASSISTANT_MODIFY))
        assistant = objects.modified(self.retrieve(owner, assistant_id), changes)
        self.rt.store.update(ASSISTANTS, assistant)
        return assistant

    def delete(self, owner: str, assistant_id: str) -> AssistantDeleted:
        self.rt.store.delete(ASSISTANTS, owner, assistant_id)
        return AssistantDeleted(id=assistant_id, object="assistant.deleted", deleted=True)

    def list(self, owner: str, query: Mapping[str, Any] | None = None) -> Page[Assistant]:
        return self.rt.store.list(ASSISTANTS, owner, ListQuery.parse(query or {}))
