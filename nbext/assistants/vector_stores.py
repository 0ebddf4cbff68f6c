"""``/v1/vector_stores``: what file_search searches, built from uploaded files.

A vector store is a set of files, each parsed, cut into chunks and embedded
(:mod:`nbext.tools.file_search`). Adding a file never does that work in the
request: the file is stored ``in_progress`` and handed to an ingestion
worker, which moves it to ``completed`` or ``failed`` (with ``last_error``:
``unsupported_file``, ``invalid_file`` or ``server_error``). A client polls,
exactly as it polled OpenAI (``create_and_poll``, ``upload_and_poll``).

Chunks and their vectors are rows of ``vector_store_chunks``; the searchable
:class:`~nbext.tools.file_search.VectorIndex` of a store is rebuilt from them
on the first search after a start and kept in memory. A store's
``file_counts``, ``usage_bytes`` and ``status`` are computed from its files
whenever it is read, so they cannot drift from the truth.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from openai.types import VectorStore, VectorStoreDeleted
from openai.types.vector_stores import (
    VectorStoreFile,
    VectorStoreFileBatch,
    VectorStoreFileDeleted,
)
from pydantic import BaseModel

from nbext.assistants.files import FilesService
from nbext.assistants.validation import (
    Check,
    any_object,
    array,
    boolean,
    by_type,
    integer,
    metadata,
    nullable,
    number,
    obj,
    string,
    validate,
)
from nbext.errors import APIError, invalid
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
    ChunkRecord,
    SearchResult,
    StaticChunking,
    VectorIndex,
    chunk_text,
    embed_passages,
    merge_results,
    parse_chunking_strategy,
    parse_file,
)

DAY = 86_400
EMBEDDING_BYTES = 384 * 4
READY_TIMEOUT_S = 120.0
"""How long a file_search call waits for files still being ingested."""

EXPIRES_AFTER = nullable(
    obj(
        {"anchor": string(enum=["last_active_at"]), "days": integer(minimum=1, maximum=365)},
        required=("anchor", "days"),
    )
)


def _attributes() -> Check:
    """Up to 16 keys (64 chars); values are strings (512 chars), numbers or booleans."""
    key = string(max_length=64)
    text = string(max_length=512)

    def check(value: Any, param: str) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise invalid(f"Invalid type for '{param}': expected an object.", param, "invalid_type")
        if len(value) > 16:
            raise invalid(f"Invalid '{param}': at most 16 attributes.", param)
        for k, v in value.items():
            key(k, param)
            if isinstance(v, str):
                text(v, f"{param}.{k}")
            elif not isinstance(v, (int, float, bool)):
                raise invalid(
                    f"Invalid type for '{param}.{k}': expected a string, a number or a boolean.",
                    f"{param}.{k}",
                    "invalid_type",
                )
        return dict(value)

    return check


ATTRIBUTES = _attributes()
CREATE = obj(
    {
        "name": nullable(string(max_length=256)),
        "description": nullable(string(max_length=512)),
        "file_ids": array(string(), max_items=500),
        "expires_after": EXPIRES_AFTER,
        "chunking_strategy": any_object(),
        "metadata": metadata(),
    }
)
MODIFY = obj(
    {
        "name": nullable(string(max_length=256)),
        "expires_after": EXPIRES_AFTER,
        "metadata": metadata(),
    }
)
FILE_CREATE = obj(
    {"file_id": string(), "chunking_strategy": any_object(), "attributes": ATTRIBUTES},
    required=("file_id",),
)
FILE_UPDATE = obj({"attributes": ATTRIBUTES}, required=("attributes",))
BATCH_CREATE = obj(
    {
        "file_ids": array(string(), min_items=1, max_items=2000),
        "files": array(FILE_CREATE, min_items=1, max_items=2000),
        "chunking_strategy": any_object(),
        "attributes": ATTRIBUTES,
    }
)
SEARCH = obj(
    {
        "query": by_type(
            {str: string(), list: array(string(), min_items=1)}, "a string or an array"
        ),
        "rewrite_query": boolean(),
        "max_num_results": integer(minimum=1, maximum=50),
        "filters": any_object(),
        "ranking_options": obj(
            {
                "ranker": string(enum=["none", "auto", "default-2024-11-15"]),
                "score_threshold": number(minimum=0, maximum=1),
            }
        ),
    },
    required=("query",),
)


class SearchItemContent(BaseModel):
    type: Literal["text"] = "text"
    text: str


class SearchItem(BaseModel):
    file_id: str
    filename: str
    score: float
    attributes: dict[str, Any]
    content: list[SearchItemContent]


class SearchPage(BaseModel):
    """``POST /vector_stores/{id}/search``'s body (the SDK pages it as ``SyncPage``)."""

    object: Literal["vector_store.search_results.page"] = "vector_store.search_results.page"
    search_query: list[str]
    data: list[SearchItem]
    has_more: bool = False
    next_page: str | None = None


class FileContentItem(BaseModel):
    type: Literal["text"] = "text"
    text: str


class FileContentPage(BaseModel):
    object: Literal["vector_store.file_content.page"] = "vector_store.file_content.page"
    data: list[FileContentItem]
    has_more: bool = False
    next_page: str | None = None


class VectorStoresService:
    """Vector stores of every owner, with a worker pool that ingests their files."""

    def __init__(
        self,
        store: Store,
        files: FilesService,
        *,
        workers: int = 1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.files = files
        self.clock = clock
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nbext-ingest")
        self._indexes: dict[str, VectorIndex] = {}
        self._lock = threading.RLock()
        files.on_delete.append(self._file_deleted)
        self._recover()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def now(self) -> int:
        return int(self.clock())

    # -- vector stores -----------------------------------------------------------

    def create(self, owner: str, body: Any) -> VectorStore:
        body = validate(body, CREATE)
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
                "file_counts": _counts(Counter()),
                "status": "completed",
                "last_active_at": now,
                "metadata": body.get("metadata") or {},
                "expires_after": expires_after,
                "expires_at": now + expires_after["days"] * DAY if expires_after else None,
            }
        )
        self.store.insert(VECTOR_STORES, owner, vector_store)
        for file_id in file_ids:
            self._add_file(owner, vector_store.id, file_id, strategy, None, None)
        return self.retrieve(owner, vector_store.id)

    def retrieve(self, owner: str, vector_store_id: str) -> VectorStore:
        return self._view(self.store.get(VECTOR_STORES, owner, vector_store_id))

    def modify(self, owner: str, vector_store_id: str, body: Any) -> VectorStore:
        body = validate(body, MODIFY)
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
        with self._lock:
            self.store.delete_chunks(vector_store_id)
            self.store.delete_where(VECTOR_STORE_FILES, vector_store_id=vector_store_id)
            self.store.delete_where(VECTOR_STORE_FILE_BATCHES, vector_store_id=vector_store_id)
            self.store.delete_where(VECTOR_STORES, id=vector_store_id)
            self._indexes.pop(vector_store_id, None)
        return VectorStoreDeleted(id=vector_store_id, object="vector_store.deleted", deleted=True)

    def list(self, owner: str, query: Mapping[str, Any] | None = None) -> Page[VectorStore]:
        page = self.store.list(VECTOR_STORES, owner, ListQuery.parse(query or {}))
        page.data = [self._view(v) for v in page.data]
        return page

    # -- files of a vector store -------------------------------------------------

    def create_file(self, owner: str, vector_store_id: str, body: Any) -> VectorStoreFile:
        body = validate(body, FILE_CREATE)
        self._writable(owner, vector_store_id)
        strategy = parse_chunking_strategy(body.get("chunking_strategy"))
        self.files.retrieve(owner, body["file_id"])
        return self._add_file(
            owner, vector_store_id, body["file_id"], strategy, body.get("attributes"), None
        )

    def add_files(self, owner: str, vector_store_id: str, file_ids: Iterable[str]) -> None:
        """For the runtime (message attachments): add files not already in the store."""
        for file_id in file_ids:
            if self.store.find(VECTOR_STORE_FILES, owner, file_id, vector_store_id=vector_store_id):
                continue
            self._add_file(owner, vector_store_id, file_id, StaticChunking(), None, None)

    def list_files(
        self, owner: str, vector_store_id: str, query: Mapping[str, Any] | None = None
    ) -> Page[VectorStoreFile]:
        query = dict(query or {})
        page = ListQuery.parse(query, extra=("filter",))
        self.store.get(VECTOR_STORES, owner, vector_store_id)
        where = _status_filter(query.get("filter"))
        return self.store.list(
            VECTOR_STORE_FILES, owner, page, vector_store_id=vector_store_id, **where
        )

    def retrieve_file(self, owner: str, vector_store_id: str, file_id: str) -> VectorStoreFile:
        self.store.get(VECTOR_STORES, owner, vector_store_id)
        return self.store.get(VECTOR_STORE_FILES, owner, file_id, vector_store_id=vector_store_id)

    def update_file(
        self, owner: str, vector_store_id: str, file_id: str, body: Any
    ) -> VectorStoreFile:
        body = validate(body, FILE_UPDATE)
        current = self.retrieve_file(owner, vector_store_id, file_id)
        updated = current.model_copy(update={"attributes": body["attributes"]})
        self.store.update_where(VECTOR_STORE_FILES, updated, {"vector_store_id": vector_store_id})
        return updated

    def delete_file(self, owner: str, vector_store_id: str, file_id: str) -> VectorStoreFileDeleted:
        """Remove the file from the store (the file itself stays, as on OpenAI)."""
        self.retrieve_file(owner, vector_store_id, file_id)
        self._remove_file(vector_store_id, file_id)
        return VectorStoreFileDeleted(id=file_id, object="vector_store.file.deleted", deleted=True)

    def file_content(self, owner: str, vector_store_id: str, file_id: str) -> FileContentPage:
        """The file's text as file_search parsed it."""
        self.retrieve_file(owner, vector_store_id, file_id)
        file, data = self.files.content(owner, file_id)
        return FileContentPage(data=[FileContentItem(text=parse_file(file.filename, data))])

    # -- file batches --------------------------------------------------------------

    def create_batch(self, owner: str, vector_store_id: str, body: Any) -> VectorStoreFileBatch:
        body = validate(body, BATCH_CREATE)
        if ("file_ids" in body) == ("files" in body):
            raise invalid("Provide exactly one of 'file_ids' and 'files'.", "file_ids")
        self._writable(owner, vector_store_id)
        strategy = parse_chunking_strategy(body.get("chunking_strategy"))
        entries: list[tuple[str, StaticChunking, dict[str, Any] | None]] = []
        if "file_ids" in body:
            entries = [(f, strategy, body.get("attributes")) for f in body["file_ids"]]
        else:
            for item in body["files"]:
                own = parse_chunking_strategy(item.get("chunking_strategy"))
                entries.append((item["file_id"], own, item.get("attributes")))
        for file_id, _, _ in entries:
            self.files.retrieve(owner, file_id)
        batch = VectorStoreFileBatch.model_validate(
            {
                "id": new_id("vsfb"),
                "object": "vector_store.files_batch",
                "created_at": self.now(),
                "vector_store_id": vector_store_id,
                "status": "in_progress",
                "file_counts": _counts(Counter(in_progress=len(entries))),
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
            self._add_file(owner, vector_store_id, file_id, file_strategy, attributes, batch.id)
        return self.retrieve_batch(owner, vector_store_id, batch.id)

    def retrieve_batch(
        self, owner: str, vector_store_id: str, batch_id: str
    ) -> VectorStoreFileBatch:
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
            update={"status": status, "file_counts": _counts(counts, model=batch.file_counts)}
        )

    def cancel_batch(self, owner: str, vector_store_id: str, batch_id: str) -> VectorStoreFileBatch:
        """Files not yet ingested are ``cancelled``; those already done stay."""
        batch = self.retrieve_batch(owner, vector_store_id, batch_id)
        if batch.status != "in_progress":
            raise invalid(f"Cannot cancel a batch with status '{batch.status}'.")
        with self._lock:
            for row in self.store.all(VECTOR_STORE_FILES, batch_id=batch_id):
                if row.status == "in_progress":
                    self._set_file(row, status="cancelled")
            stored = self.store.get(VECTOR_STORE_FILE_BATCHES, None, batch_id)
            self.store.update(
                VECTOR_STORE_FILE_BATCHES,
                stored.model_copy(update={"status": "cancelled"}),
                status="cancelled",
            )
        return self.retrieve_batch(owner, vector_store_id, batch_id)

    def list_batch_files(
        self,
        owner: str,
        vector_store_id: str,
        batch_id: str,
        query: Mapping[str, Any] | None = None,
    ) -> Page[VectorStoreFile]:
        query = dict(query or {})
        page = ListQuery.parse(query, extra=("filter",))
        self.retrieve_batch(owner, vector_store_id, batch_id)
        where = _status_filter(query.get("filter"))
        return self.store.list(
            VECTOR_STORE_FILES,
            owner,
            page,
            vector_store_id=vector_store_id,
            batch_id=batch_id,
            **where,
        )

    # -- search ------------------------------------------------------------------------

    def search(self, owner: str, vector_store_id: str, body: Any) -> SearchPage:
        body = validate(body, SEARCH)
        vector_store = self.retrieve(owner, vector_store_id)
        if vector_store.status == "expired":
            raise invalid(f"Vector store {vector_store_id} has expired and cannot be searched.")
        queries = [body["query"]] if isinstance(body["query"], str) else body["query"]
        limit = body.get("max_num_results", 10)
        threshold = (body.get("ranking_options") or {}).get("score_threshold", 0.0)
        filters = body.get("filters")
        attributes = self._attributes(vector_store_id)
        results = self._index(vector_store_id).search(
            queries, max_num_results=50 if filters else limit, score_threshold=threshold
        )
        if filters:
            results = [r for r in results if _matches(filters, attributes.get(r.file_id) or {})]
        self._touch(vector_store_id)
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

    def search_stores(
        self,
        owner: str,
        vector_store_ids: Iterable[str],
        query: str,
        max_num_results: int,
        score_threshold: float,
    ) -> list[SearchResult]:
        """For the file_search tool: several stores at once, merged by score.

        Missing, foreign and expired stores are skipped (an assistant may name
        a store deleted since); files still being ingested are waited for.
        """
        usable = []
        for vector_store_id in dict.fromkeys(vector_store_ids):
            found = self.store.find(VECTOR_STORES, owner, vector_store_id)
            if found is not None and self._view(found).status != "expired":
                usable.append(vector_store_id)
        self.wait_ready(usable)
        results = [self._index(v).search(query, max_num_results, score_threshold) for v in usable]
        for vector_store_id in usable:
            self._touch(vector_store_id)
        return merge_results(results, max_num_results)

    def wait_ready(self, vector_store_ids: Iterable[str], timeout: float = READY_TIMEOUT_S) -> None:
        ids = list(vector_store_ids)
        deadline = time.monotonic() + timeout
        while ids and time.monotonic() < deadline:
            if not self.store.count(VECTOR_STORE_FILES, vector_store_id=ids, status="in_progress"):
                return
            time.sleep(0.05)

    # -- ingestion ----------------------------------------------------------------------

    def _add_file(
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
                "created_at": self.now(),
                "vector_store_id": vector_store_id,
                "status": "in_progress",
                "last_error": None,
                "chunking_strategy": strategy.to_wire(),
                "attributes": attributes,
            }
        )
        with self._lock:
            if self.store.find(VECTOR_STORE_FILES, owner, file_id, vector_store_id=vector_store_id):
                self._remove_file(vector_store_id, file_id)  # re-adding replaces
            self.store.insert(
                VECTOR_STORE_FILES,
                owner,
                entry,
                vector_store_id=vector_store_id,
                batch_id=batch_id,
                status="in_progress",
            )
        self._touch(vector_store_id)
        self._pool.submit(self._ingest, owner, vector_store_id, file_id, strategy)
        return entry

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
        with self._lock:
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
            self._set_file(entry, status="completed", usage_bytes=usage)

    def _fail(self, vector_store_id: str, file_id: str, code: str, message: str) -> None:
        with self._lock:
            entry = self.store.find(
                VECTOR_STORE_FILES, None, file_id, vector_store_id=vector_store_id
            )
            if entry is not None and entry.status == "in_progress":
                self._set_file(
                    entry, status="failed", last_error={"code": code, "message": message}
                )

    def _set_file(self, entry: VectorStoreFile, **changes: Any) -> None:
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

    def _remove_file(self, vector_store_id: str, file_id: str) -> None:
        with self._lock:
            self.store.delete_chunks(vector_store_id, file_id)
            self.store.delete_where(VECTOR_STORE_FILES, id=file_id, vector_store_id=vector_store_id)
            index = self._indexes.get(vector_store_id)
            if index is not None:
                index.remove_file(file_id)

    def _file_deleted(self, owner: str, file_id: str) -> None:
        """``DELETE /files/{id}`` removes the file from every vector store, as OpenAI did."""
        for row in self.store.columns(
            VECTOR_STORE_FILES, ["vector_store_id"], id=file_id, owner=owner
        ):
            self._remove_file(row.vector_store_id, file_id)

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

    # -- internals ----------------------------------------------------------------------

    def _index(self, vector_store_id: str) -> VectorIndex:
        with self._lock:
            index = self._indexes.get(vector_store_id)
            if index is None:
                rows = self.store.chunks(vector_store_id)
                index = VectorIndex.from_records(ChunkRecord(*row) for row in rows)
                self._indexes[vector_store_id] = index
            return index

    def _attributes(self, vector_store_id: str) -> dict[str, dict[str, Any]]:
        return {
            f.id: f.attributes or {}
            for f in self.store.all(VECTOR_STORE_FILES, vector_store_id=vector_store_id)
        }

    def _writable(self, owner: str, vector_store_id: str) -> VectorStore:
        vector_store = self.retrieve(owner, vector_store_id)
        if vector_store.status == "expired":
            raise invalid(f"Vector store {vector_store_id} has expired: files cannot be added.")
        return vector_store

    def _touch(self, vector_store_id: str) -> None:
        """Searching or adding files keeps a store with ``expires_after`` alive."""
        current = self.store.find(VECTOR_STORES, None, vector_store_id)
        if current is None or self._expired(current):
            return
        self.store.update(
            VECTOR_STORES, _with_expiry(current.model_copy(update={"last_active_at": self.now()}))
        )

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
                "file_counts": _counts(counts, model=vector_store.file_counts),
            }
        )


def _with_expiry(vector_store: VectorStore) -> VectorStore:
    after = vector_store.expires_after
    anchor = vector_store.last_active_at or vector_store.created_at
    expires_at = anchor + after.days * DAY if after is not None else None
    return vector_store.model_copy(update={"expires_at": expires_at})


def _counts(counts: Counter[str], model: Any = None) -> Any:
    values = {
        "in_progress": counts["in_progress"],
        "completed": counts["completed"],
        "failed": counts["failed"],
        "cancelled": counts["cancelled"],
        "total": sum(counts.values()),
    }
    return values if model is None else type(model).model_validate(values)


def _status_filter(value: Any) -> dict[str, Any]:
    if value in (None, ""):
        return {}
    allowed = ("in_progress", "completed", "failed", "cancelled")
    if value not in allowed:
        raise invalid(
            f"Invalid value for 'filter': '{value}'. Supported values are: "
            + ", ".join(f"'{a}'" for a in allowed)
            + ".",
            "filter",
            "invalid_value",
        )
    return {"status": value}


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a is not None and a > b,
    "gte": lambda a, b: a is not None and a >= b,
    "lt": lambda a, b: a is not None and a < b,
    "lte": lambda a, b: a is not None and a <= b,
    "in": lambda a, b: a in b,
    "nin": lambda a, b: a not in b,
}


def _matches(condition: Mapping[str, Any], attributes: Mapping[str, Any]) -> bool:
    """OpenAI's attribute filters: ``{"type": "eq", "key": k, "value": v}``, and/or."""
    kind = condition.get("type")
    if kind in ("and", "or"):
        parts = [_matches(c, attributes) for c in condition.get("filters") or []]
        return all(parts) if kind == "and" else any(parts)
    compare = _COMPARISONS.get(str(kind))
    if compare is None or "key" not in condition:
        raise invalid(f"Invalid filter: {dict(condition)!r}.", "filters")
    try:
        return compare(attributes.get(condition["key"]), condition.get("value"))
    except TypeError:
        return False
