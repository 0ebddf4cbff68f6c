"""Vector stores: what file_search searches, built from uploaded files.

A vector store is a set of files, each parsed, cut into chunks and embedded
(:mod:`nbext.tools.file_search`) by :mod:`.ingestion`. A client polls,
exactly as it polled OpenAI (``create_and_poll``, ``upload_and_poll``). A
store's ``file_counts``, ``usage_bytes`` and ``status`` are computed from its
files whenever it is read, so they cannot drift from the truth.

Three services, as the SDK has three resources: :class:`VectorStores`
(with ``search``) here, :class:`~.store_files.VectorStoreFiles` and
:class:`~.file_batches.FileBatches` beside it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from openai.types import (
    VectorStore,
    VectorStoreCreateParams,
    VectorStoreDeleted,
    VectorStoreSearchParams,
    VectorStoreUpdateParams,
)

from nbext.api.files.service import Files
from nbext.api.vector_stores.filters import matches
from nbext.api.vector_stores.ingestion import Ingestion
from nbext.api.vector_stores.protocol import (
    SearchItem,
    SearchItemContent,
    SearchPage,
)
from nbext.errors import invalid
from nbext.ids import new_id
from nbext.store import (
    VECTOR_STORE_FILE_BATCHES,
    VECTOR_STORE_FILES,
    VECTOR_STORES,
    ListQuery,
    Page,
    Store,
)
from nbext.tools.file_search import (
    SearchResult,
    StaticChunking,
    merge_results,
    parse_chunking_strategy,
)

DAY = 86_400


class VectorStores:
    """Vector stores of every owner, with the workers that ingest their files."""

    def __init__(
        self,
        store: Store,
        files: Files,
        *,
        workers: int = 1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.files = files
        self.clock = clock
        self.ingestion = Ingestion(store, files, touch=self.touch, workers=workers, clock=clock)

    def close(self) -> None:
        self.ingestion.close()

    def now(self) -> int:
        return int(self.clock())

    def create(self, owner: str, body: VectorStoreCreateParams) -> VectorStore:
        strategy = parse_chunking_strategy(body.get("chunking_strategy"))
        file_ids = list(dict.fromkeys(body.get("file_ids") or []))
        for file_id in file_ids:
            self.files.retrieve(owner, file_id)  # 404 before anything is created
        now = self.now()
        expires_after = body.get("expires_after")
        vector_store = VectorStore.model_validate(
            {
                "id": new_id("vs"),
                "object": "vector_store",
                "created_at": now,
                "name": body.get("name") or "",
                "usage_bytes": 0,
                "file_counts": counts_of(Counter()),
                "status": "completed",
                "last_active_at": now,
                "metadata": body.get("metadata") or {},
                "expires_after": expires_after,
                "expires_at": now + expires_after["days"] * DAY if expires_after else None,
            }
        )
        self.store.insert(VECTOR_STORES, owner, vector_store)
        for file_id in file_ids:
            self.ingestion.add_file(owner, vector_store.id, file_id, strategy, None, None)
        return self.retrieve(owner, vector_store.id)

    def retrieve(self, owner: str, vector_store_id: str) -> VectorStore:
        return self._view(self.store.get(VECTOR_STORES, owner, vector_store_id))

    def update(
        self, owner: str, vector_store_id: str, body: VectorStoreUpdateParams
    ) -> VectorStore:
        current = self.store.get(VECTOR_STORES, owner, vector_store_id)
        data = current.model_dump(mode="json")
        if "name" in body:
            data["name"] = body["name"] or ""
        if "metadata" in body:
            data["metadata"] = body["metadata"] or {}
        if "expires_after" in body:
            data["expires_after"] = body["expires_after"]
        updated = _with_expiry(VectorStore.model_validate(data))
        self.store.update(VECTOR_STORES, updated)
        return self._view(updated)

    def delete(self, owner: str, vector_store_id: str) -> VectorStoreDeleted:
        self.store.get(VECTOR_STORES, owner, vector_store_id)
        with self.ingestion.lock:
            self.ingestion.forget_store(vector_store_id)
            self.store.delete_where(VECTOR_STORE_FILES, vector_store_id=vector_store_id)
            self.store.delete_where(VECTOR_STORE_FILE_BATCHES, vector_store_id=vector_store_id)
            self.store.delete_where(VECTOR_STORES, id=vector_store_id)
        return VectorStoreDeleted(id=vector_store_id, object="vector_store.deleted", deleted=True)

    def list(self, owner: str, page: ListQuery | None = None) -> Page[VectorStore]:
        stores = self.store.list(VECTOR_STORES, owner, page or ListQuery())
        stores.data = [self._view(v) for v in stores.data]
        return stores

    def search(self, owner: str, vector_store_id: str, body: VectorStoreSearchParams) -> SearchPage:
        vector_store = self.retrieve(owner, vector_store_id)
        if vector_store.status == "expired":
            raise invalid(f"Vector store {vector_store_id} has expired and cannot be searched.")
        queries = [body["query"]] if isinstance(body["query"], str) else list(body["query"])
        limit = body.get("max_num_results", 10)
        threshold = (body.get("ranking_options") or {}).get("score_threshold", 0.0)
        filters = body.get("filters")
        attributes = self._attributes(vector_store_id)
        results = self.ingestion.index(vector_store_id).search(
            queries, max_num_results=50 if filters else limit, score_threshold=threshold
        )
        if filters:
            results = [r for r in results if matches(filters, attributes.get(r.file_id) or {})]
        self.touch(vector_store_id)
        return SearchPage(
            search_query=queries,
            data=[
                SearchItem(
                    file_id=r.file_id,
                    filename=r.filename,
                    score=r.score,
                    attributes=attributes.get(r.file_id) or {},
                    content=[SearchItemContent(text=r.chunk_text)],
                )
                for r in results[:limit]
            ],
        )

    # -- for the tools (nbext.tools.resources.VectorStoreAccess) -------------------------

    def add_files(self, owner: str, vector_store_id: str, file_ids: Iterable[str]) -> None:
        """Message attachments: add files not already in the store."""
        for file_id in file_ids:
            if self.store.find(VECTOR_STORE_FILES, owner, file_id, vector_store_id=vector_store_id):
                continue
            self.ingestion.add_file(owner, vector_store_id, file_id, StaticChunking(), None, None)

    def search_stores(
        self,
        owner: str,
        vector_store_ids: Iterable[str],
        query: str,
        max_num_results: int,
        score_threshold: float,
    ) -> Sequence[SearchResult]:
        """For the file_search tool: several stores at once, merged by score.

        Missing, foreign and expired stores are skipped (an assistant may name
        a store deleted since); files still being ingested are waited for.
        """
        usable = []
        for vector_store_id in dict.fromkeys(vector_store_ids):
            found = self.store.find(VECTOR_STORES, owner, vector_store_id)
            if found is not None and self._view(found).status != "expired":
                usable.append(vector_store_id)
        self.ingestion.wait_ready(usable)
        results = [
            self.ingestion.index(v).search(query, max_num_results, score_threshold) for v in usable
        ]
        for vector_store_id in usable:
            self.touch(vector_store_id)
        return merge_results(results, max_num_results)

    # -- shared with the files and batches of a store ----------------------------------

    def writable(self, owner: str, vector_store_id: str) -> VectorStore:
        vector_store = self.retrieve(owner, vector_store_id)
        if vector_store.status == "expired":
            raise invalid(f"Vector store {vector_store_id} has expired: files cannot be added.")
        return vector_store

    def touch(self, vector_store_id: str) -> None:
        """Searching or adding files keeps a store with ``expires_after`` alive."""
        current = self.store.find(VECTOR_STORES, None, vector_store_id)
        if current is None or self._expired(current):
            return
        self.store.update(
            VECTOR_STORES, _with_expiry(current.model_copy(update={"last_active_at": self.now()}))
        )

    def _attributes(self, vector_store_id: str) -> dict[str, dict[str, Any]]:
        return {
            f.id: f.attributes or {}
            for f in self.store.all(VECTOR_STORE_FILES, vector_store_id=vector_store_id)
        }

    def _expired(self, vector_store: VectorStore) -> bool:
        return vector_store.expires_at is not None and self.now() > vector_store.expires_at

    def _view(self, vector_store: VectorStore) -> VectorStore:
        rows = self.store.columns(
            VECTOR_STORE_FILES, ["status", "usage_bytes"], vector_store_id=vector_store.id
        )
        counts = Counter(row.status for row in rows)
        if self._expired(vector_store):
            status = "expired"
        else:
            status = "in_progress" if counts["in_progress"] else "completed"
        return vector_store.model_copy(
            update={
                "status": status,
                "usage_bytes": sum(row.usage_bytes or 0 for row in rows),
                "file_counts": counts_of(counts, model=vector_store.file_counts),
            }
        )


def _with_expiry(vector_store: VectorStore) -> VectorStore:
    after = vector_store.expires_after
    anchor = vector_store.last_active_at or vector_store.created_at
    expires_at = anchor + after.days * DAY if after is not None else None
    return vector_store.model_copy(update={"expires_at": expires_at})


def counts_of(counts: Counter[str], model: Any = None) -> Any:
    """A ``file_counts`` object (or dict) from the statuses counted."""
    values = {
        "in_progress": counts["in_progress"],
        "completed": counts["completed"],
        "failed": counts["failed"],
        "cancelled": counts["cancelled"],
        "total": sum(counts.values()),
    }
    return values if model is None else type(model).model_validate(values)
