"""Adding a file to a vector store: parse, chunk, embed, store, on a worker thread.

Adding a file never does that work in the request: the file is stored
``in_progress`` and handed to an ingestion worker, which moves it to
``completed`` or ``failed`` (with ``last_error``: ``unsupported_file``,
``invalid_file`` or ``server_error``). Chunks and their vectors are rows of
the store (:meth:`~nbext.store.Store.replace_chunks`); the searchable
:class:`~nbext.tools.file_search.VectorIndex` of a vector store is rebuilt
from them on the first search after a start and kept in memory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from openai.types.vector_stores import VectorStoreFile

from nbext.api.files.service import Files
from nbext.errors import APIError
from nbext.store import VECTOR_STORE_FILES, Store
from nbext.tools.file_search import (
    ChunkRecord,
    StaticChunking,
    VectorIndex,
    chunk_text,
    embed_passages,
    parse_file,
)

EMBEDDING_BYTES = 384 * 4
READY_TIMEOUT_S = 120.0
"""How long a file_search call waits for files still being ingested."""


class Ingestion:
    """The ingestion workers and the in-memory index of each vector store."""

    def __init__(
        self,
        store: Store,
        files: Files,
        *,
        touch: Callable[[str], None],
        workers: int = 1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.files = files
        self.touch = touch
        """Called with a vector store id when a file is added (it keeps the store alive)."""
        self.clock = clock
        self.lock = threading.RLock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nbext-ingest")
        self._indexes: dict[str, VectorIndex] = {}
        files.on_delete.append(self._file_deleted)
        self._recover()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def add_file(
        self,
        owner: str,
        vector_store_id: str,
        file_id: str,
        strategy: StaticChunking,
        attributes: dict[str, Any] | None,
        batch_id: str | None,
    ) -> VectorStoreFile:
        entry = VectorStoreFile.model_validate(
            {
                "id": file_id,
                "object": "vector_store.file",
                "usage_bytes": 0,
                "created_at": int(self.clock()),
                "vector_store_id": vector_store_id,
                "status": "in_progress",
                "last_error": None,
                "chunking_strategy": strategy.to_wire(),
                "attributes": attributes,
            }
        )
        with self.lock:
            if self.store.find(VECTOR_STORE_FILES, owner, file_id, vector_store_id=vector_store_id):
                self.remove_file(vector_store_id, file_id)  # re-adding replaces
            self.store.insert(
                VECTOR_STORE_FILES,
                owner,
                entry,
                vector_store_id=vector_store_id,
                batch_id=batch_id,
                status="in_progress",
            )
        self.touch(vector_store_id)
        self._pool.submit(self._ingest, owner, vector_store_id, file_id, strategy)
        return entry

    def remove_file(self, vector_store_id: str, file_id: str) -> None:
        with self.lock:
            self.store.delete_chunks(vector_store_id, file_id)
            self.store.delete_where(VECTOR_STORE_FILES, id=file_id, vector_store_id=vector_store_id)
            index = self._indexes.get(vector_store_id)
            if index is not None:
                index.remove_file(file_id)

    def forget_store(self, vector_store_id: str) -> None:
        """A deleted vector store: its chunks and its index go."""
        with self.lock:
            self.store.delete_chunks(vector_store_id)
            self._indexes.pop(vector_store_id, None)

    def set_file(self, entry: VectorStoreFile, **changes: Any) -> None:
        data = entry.model_dump(mode="json")
        data.update(changes)
        updated = VectorStoreFile.model_validate(data)
        self.store.update_where(
            VECTOR_STORE_FILES,
            updated,
            {"vector_store_id": entry.vector_store_id},
            status=updated.status,
            usage_bytes=updated.usage_bytes,
        )

    def index(self, vector_store_id: str) -> VectorIndex:
        with self.lock:
            index = self._indexes.get(vector_store_id)
            if index is None:
                rows = self.store.chunks(vector_store_id)
                index = VectorIndex.from_records(ChunkRecord(*tuple(row)) for row in rows)
                self._indexes[vector_store_id] = index
            return index

    def wait_ready(self, vector_store_ids: Iterable[str], timeout: float = READY_TIMEOUT_S) -> None:
        ids = list(vector_store_ids)
        deadline = time.monotonic() + timeout
        while ids and time.monotonic() < deadline:
            if not self.store.count(VECTOR_STORE_FILES, vector_store_id=ids, status="in_progress"):
                return
            time.sleep(0.05)

    # -- the worker -------------------------------------------------------------------

    def _ingest(
        self, owner: str, vector_store_id: str, file_id: str, strategy: StaticChunking
    ) -> None:
        """The worker: parse, chunk, embed, store; the file ends completed or failed."""
        entry = self.store.find(VECTOR_STORE_FILES, owner, file_id, vector_store_id=vector_store_id)
        if entry is None or entry.status != "in_progress":
            return  # removed or cancelled meanwhile
        try:
            file, data = self.files.content(owner, file_id)
            text = parse_file(file.filename, data)
            texts = [c.text for c in chunk_text(text, strategy)]
            vectors = embed_passages(texts)
        except APIError as exc:
            code = exc.code if exc.code in ("unsupported_file", "invalid_file") else "server_error"
            self._fail(vector_store_id, file_id, code, exc.message)
            return
        except Exception as exc:
            self._fail(vector_store_id, file_id, "server_error", f"{type(exc).__name__}: {exc}")
            return
        usage = sum(len(t.encode()) for t in texts) + EMBEDDING_BYTES * len(texts)
        with self.lock:
            entry = self.store.find(
                VECTOR_STORE_FILES, owner, file_id, vector_store_id=vector_store_id
            )
            if entry is None or entry.status != "in_progress":
                return
            self.store.replace_chunks(
                vector_store_id,
                file_id,
                file.filename,
                [(t, vectors[i].astype("<f4").tobytes()) for i, t in enumerate(texts)],
            )
            index = self._indexes.get(vector_store_id)
            if index is not None:
                index.add_chunks(file_id, file.filename, texts, vectors)
            self.set_file(entry, status="completed", usage_bytes=usage)

    def _fail(self, vector_store_id: str, file_id: str, code: str, message: str) -> None:
        with self.lock:
            entry = self.store.find(
                VECTOR_STORE_FILES, None, file_id, vector_store_id=vector_store_id
            )
            if entry is not None and entry.status == "in_progress":
                self.set_file(entry, status="failed", last_error={"code": code, "message": message})

    def _file_deleted(self, owner: str, file_id: str) -> None:
        """``DELETE /files/{id}`` removes the file from every vector store, as OpenAI did."""
        for row in self.store.columns(
            VECTOR_STORE_FILES, ["vector_store_id"], id=file_id, owner=owner
        ):
            self.remove_file(row.vector_store_id, file_id)

    def _recover(self) -> None:
        """Files a stopped server was ingesting: start them again (their bytes are kept)."""
        for entry in self.store.all(VECTOR_STORE_FILES, status="in_progress"):
            owner = self.store.columns(
                VECTOR_STORE_FILES, ["owner"], id=entry.id, vector_store_id=entry.vector_store_id
            )[0].owner
            strategy = entry.chunking_strategy
            static = getattr(strategy, "static", None)
            chunking = (
                StaticChunking(static.max_chunk_size_tokens, static.chunk_overlap_tokens)
                if static is not None
                else StaticChunking()
            )
            self._pool.submit(self._ingest, owner, entry.vector_store_id, entry.id, chunking)
