"""File batches: several files added to a vector store at once, polled as one."""

from __future__ import annotations

from collections import Counter
from typing import Any

from openai.types.vector_stores import FileBatchCreateParams, VectorStoreFile, VectorStoreFileBatch

from nbext.api.vector_stores.service import VectorStores, counts_of
from nbext.errors import invalid
from nbext.ids import new_id
from nbext.store import VECTOR_STORE_FILE_BATCHES, VECTOR_STORE_FILES, ListQuery, Page
from nbext.tools.file_search import StaticChunking, parse_chunking_strategy


class FileBatches:
    """Several files added to a vector store at once, polled as one."""

    def __init__(self, stores: VectorStores) -> None:
        self.stores = stores
        self.store = stores.store
        self.ingestion = stores.ingestion

    def create(
        self, owner: str, vector_store_id: str, body: FileBatchCreateParams
    ) -> VectorStoreFileBatch:
        self.stores.writable(owner, vector_store_id)
        strategy = parse_chunking_strategy(body.get("chunking_strategy"))
        entries: list[tuple[str, StaticChunking, dict[str, Any] | None]] = []
        if "file_ids" in body:
            entries = [(f, strategy, body.get("attributes")) for f in body["file_ids"]]
        else:
            for item in body["files"]:
                own = parse_chunking_strategy(item.get("chunking_strategy"))
                entries.append((item["file_id"], own, item.get("attributes")))
        for file_id, _, _ in entries:
            self.stores.files.retrieve(owner, file_id)
        batch = VectorStoreFileBatch.model_validate(
            {
                "id": new_id("vsfb"),
                "object": "vector_store.files_batch",
                "created_at": self.stores.now(),
                "vector_store_id": vector_store_id,
                "status": "in_progress",
                "file_counts": counts_of(Counter(in_progress=len(entries))),
            }
        )
        self.store.insert(
            VECTOR_STORE_FILE_BATCHES,
            owner,
            batch,
            vector_store_id=vector_store_id,
            status="in_progress",
        )
        for file_id, file_strategy, attributes in entries:
            self.ingestion.add_file(
                owner, vector_store_id, file_id, file_strategy, attributes, batch.id
            )
        return self.retrieve(owner, vector_store_id, batch.id)

    def retrieve(self, owner: str, vector_store_id: str, batch_id: str) -> VectorStoreFileBatch:
        batch = self.store.get(
            VECTOR_STORE_FILE_BATCHES, owner, batch_id, vector_store_id=vector_store_id
        )
        counts = Counter(
            row.status
            for row in self.store.columns(VECTOR_STORE_FILES, ["status"], batch_id=batch_id)
        )
        if batch.status == "cancelled":
            status = "cancelled"
        else:
            status = "in_progress" if counts["in_progress"] else "completed"
        return batch.model_copy(
            update={"status": status, "file_counts": counts_of(counts, model=batch.file_counts)}
        )

    def cancel(self, owner: str, vector_store_id: str, batch_id: str) -> VectorStoreFileBatch:
        """Files not yet ingested are ``cancelled``; those already done stay."""
        batch = self.retrieve(owner, vector_store_id, batch_id)
        if batch.status != "in_progress":
            raise invalid(f"Cannot cancel a batch with status '{batch.status}'.")
        with self.ingestion.lock:
            for row in self.store.all(VECTOR_STORE_FILES, batch_id=batch_id):
                if row.status == "in_progress":
                    self.ingestion.set_file(row, status="cancelled")
            stored = self.store.get(VECTOR_STORE_FILE_BATCHES, None, batch_id)
            self.store.update(
                VECTOR_STORE_FILE_BATCHES,
                stored.model_copy(update={"status": "cancelled"}),
                status="cancelled",
            )
        return self.retrieve(owner, vector_store_id, batch_id)

    def list_files(
        self,
        owner: str,
        vector_store_id: str,
        batch_id: str,
        page: ListQuery | None = None,
        status: str | None = None,
    ) -> Page[VectorStoreFile]:
        """``status`` keeps only the files in that status."""
        self.retrieve(owner, vector_store_id, batch_id)
        where = {"status": status} if status else {}
        return self.store.list(
            VECTOR_STORE_FILES,
            owner,
            page or ListQuery(),
            vector_store_id=vector_store_id,
            batch_id=batch_id,
            **where,
        )
