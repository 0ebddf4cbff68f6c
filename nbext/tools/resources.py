"""Files to tools: ``tool_resources`` and message ``attachments``, as OpenAI wired them.

* ``tool_resources`` on assistants and threads are checked (an unknown file
  or vector store id is a 404) and ``file_search.vector_stores`` helpers
  become new vector stores.
* A message's ``attachments`` go where OpenAI sent them: ``file_search``
  ones into the thread's vector store (created on first need, expiring 7
  days after last use), ``code_interpreter`` ones into the thread's
  ``tool_resources.code_interpreter.file_ids``.

The files and vector stores are the API's (:mod:`nbext.api.files`,
:mod:`nbext.api.vector_stores`); the tools see them only through the two
protocols below, handed in when the server is assembled, so nothing here
imports a layer above.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from openai.types import FileObject, VectorStore
from openai.types.beta import Thread
from openai.types.beta.threads import Message

from nbext.errors import invalid
from nbext.store import THREADS, Store
from nbext.tools.file_search import SearchResult
from nbext.tools.registry import ToolHooks

THREAD_STORE_DAYS = 7


class FileAccess(Protocol):
    """What the tools need of the files service."""

    def retrieve(self, owner: str, file_id: str) -> FileObject: ...
    def find(self, owner: str, file_id: str) -> FileObject | None: ...
    def content(self, owner: str, file_id: str) -> tuple[FileObject, bytes]: ...
    def create_output(self, owner: str, filename: str, data: bytes) -> FileObject: ...


class VectorStoreAccess(Protocol):
    """What the tools need of the vector stores service."""

    def retrieve(self, owner: str, vector_store_id: str) -> VectorStore: ...
    def create(self, owner: str, body: Any) -> VectorStore: ...
    def add_files(self, owner: str, vector_store_id: str, file_ids: Iterable[str]) -> None: ...
    def search_stores(
        self,
        owner: str,
        vector_store_ids: Iterable[str],
        query: str,
        max_num_results: int,
        score_threshold: float,
    ) -> Sequence[SearchResult]: ...


class ToolResources(ToolHooks):
    """The hooks the runtime calls as messages, threads and resources come and go."""

    def __init__(
        self,
        store: Store,
        files: FileAccess,
        vector_stores: VectorStoreAccess,
        on_thread_deleted: Callable[[str], None] = lambda thread_id: None,
    ) -> None:
        self.store = store
        self.files = files
        self.vector_stores = vector_stores
        self.on_thread_deleted = on_thread_deleted

    def resolve_tool_resources(self, owner: str, resources: dict[str, Any]) -> dict[str, Any]:
        resolved = dict(resources)
        code = resources.get("code_interpreter")
        if code:
            for file_id in code.get("file_ids") or []:
                self.files.retrieve(owner, file_id)
        search = resources.get("file_search")
        if search:
            ids = list(search.get("vector_store_ids") or [])
            for vector_store_id in ids:
                self.vector_stores.retrieve(owner, vector_store_id)
            for helper in search.get("vector_stores") or []:
                ids.append(self.vector_stores.create(owner, helper).id)
            if len(ids) > 1:
                raise invalid(
                    "Invalid 'tool_resources.file_search': at most one vector store may be "
                    "attached (in 'vector_store_ids' or 'vector_stores').",
                    param="tool_resources.file_search",
                )
            resolved["file_search"] = {"vector_store_ids": ids}
        return resolved

    def check_attachments(self, owner: str, attachments: Iterable[Mapping[str, Any]]) -> None:
        for attachment in attachments:
            self.files.retrieve(owner, attachment["file_id"])

    def messages_created(self, owner: str, thread_id: str, messages: list[Message]) -> None:
        search: list[str] = []
        code: list[str] = []
        for message in messages:
            for attachment in message.attachments or []:
                kinds = {tool.type for tool in attachment.tools or []}
                if attachment.file_id and "file_search" in kinds:
                    search.append(attachment.file_id)
                if attachment.file_id and "code_interpreter" in kinds:
                    code.append(attachment.file_id)
        if not search and not code:
            return
        thread = self.store.get(THREADS, owner, thread_id)
        resources = thread.tool_resources.model_dump(mode="json") if thread.tool_resources else {}
        if search:
            ids = (resources.get("file_search") or {}).get("vector_store_ids") or []
            if not ids:
                created = self.vector_stores.create(
                    owner,
                    {
                        "name": f"Files attached to {thread_id}",
                        "expires_after": {"anchor": "last_active_at", "days": THREAD_STORE_DAYS},
                    },
                )
                ids = [created.id]
                resources["file_search"] = {"vector_store_ids": ids}
            self.vector_stores.add_files(owner, ids[0], search)
        if code:
            current = (resources.get("code_interpreter") or {}).get("file_ids") or []
            resources["code_interpreter"] = {"file_ids": list(dict.fromkeys([*current, *code]))}
        updated = Thread.model_validate(
            {**thread.model_dump(mode="json"), "tool_resources": resources}
        )
        self.store.update(THREADS, updated)

    def thread_deleted(self, owner: str, thread_id: str) -> None:
        self.on_thread_deleted(thread_id)
