"""The files of a vector store: added (and ingested), listed, re-attributed, removed."""

from __future__ import annotations

from openai.types.vector_stores import (
    FileCreateParams,
    FileUpdateParams,
    VectorStoreFile,
    VectorStoreFileDeleted,
)

from nbext.api.vector_stores.protocol import FileContentItem, FileContentPage
from nbext.api.vector_stores.service import VectorStores
from nbext.store import VECTOR_STORE_FILES, VECTOR_STORES, ListQuery, Page
from nbext.tools.file_search import parse_chunking_strategy, parse_file


class VectorStoreFiles:
    """The files of a vector store (the file itself stays a file of ``/v1/files``)."""

    def __init__(self, stores: VectorStores) -> None:
        self.stores = stores
        self.store = stores.store
        self.ingestion = stores.ingestion

    def create(self, owner: str, vector_store_id: str, body: FileCreateParams) -> VectorStoreFile:
        self.stores.writable(owner, vector_store_id)
        strategy = parse_chunking_strategy(body.get("chunking_strategy"))
        self.stores.files.retrieve(owner, body["file_id"])
        return self.ingestion.add_file(
            owner, vector_store_id, body["file_id"], strategy, body.get("attributes"), None
        )

    def list(
        self,
        owner: str,
        vector_store_id: str,
        page: ListQuery | None = None,
        status: str | None = None,
    ) -> Page[VectorStoreFile]:
        """``status`` keeps only the files in that status."""
        self.store.get(VECTOR_STORES, owner, vector_store_id)
        where = {"status": status} if status else {}
        return self.store.list(
            VECTOR_STORE_FILES, owner, page or ListQuery(), vector_store_id=vector_store_id, **where
        )

    def retrieve(self, owner: str, vector_store_id: str, file_id: str) -> VectorStoreFile:
        self.store.get(VECTOR_STORES, owner, vector_store_id)
        return self.store.get(VECTOR_STORE_FILES, owner, file_id, vector_store_id=vector_store_id)

    def update(
        self, owner: str, vector_store_id: str, file_id: str, body: FileUpdateParams
    ) -> VectorStoreFile:
        current = self.retrieve(owner, vector_store_id, file_id)
        updated = current.model_copy(update={"attributes": body["attributes"]})
        self.store.update_where(VECTOR_STORE_FILES, updated, {"vector_store_id": vector_store_id})
        return updated

    def delete(self, owner: str, vector_store_id: str, file_id: str) -> VectorStoreFileDeleted:
        """Remove the file from the store (the file itself stays, as on OpenAI)."""
        self.retrieve(owner, vector_store_id, file_id)
        self.ingestion.remove_file(vector_store_id, file_id)
        return VectorStoreFileDeleted(id=file_id, object="vector_store.file.deleted", deleted=True)

    def content(self, owner: str, vector_store_id: str, file_id: str) -> FileContentPage:
        """The file's text as file_search parsed it."""
        self.retrieve(owner, vector_store_id, file_id)
        file, data = self.stores.files.content(owner, file_id)
        return FileContentPage(data=[FileContentItem(text=parse_file(file.filename, data))])
