"""``/v1/vector_stores``: stores, their files and file batches, and search."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from openai.types import (
    VectorStore,
    VectorStoreCreateParams,
    VectorStoreDeleted,
    VectorStoreSearchParams,
    VectorStoreUpdateParams,
)
from openai.types.vector_stores import (
    FileBatchCreateParams,
    FileCreateParams,
    FileUpdateParams,
    VectorStoreFile,
    VectorStoreFileBatch,
    VectorStoreFileDeleted,
)

from nbext.api.edge import Owner, accepts, call, dump, listing, parsed, query
from nbext.api.vector_stores.file_batches import FileBatches
from nbext.api.vector_stores.protocol import (
    BATCH_CREATE,
    CREATE,
    FILE_CREATE,
    FILE_UPDATE,
    MODIFY,
    SEARCH,
    FileContentPage,
    SearchPage,
    status_filter,
)
from nbext.api.vector_stores.service import VectorStores
from nbext.api.vector_stores.store_files import VectorStoreFiles
from nbext.store import ListQuery, Page

router = APIRouter(prefix="/vector_stores", tags=["Vector stores"])


def stores(request: Request) -> VectorStores:
    return request.app.state.vector_stores


def store_files(request: Request) -> VectorStoreFiles:
    return request.app.state.vector_store_files


def batches(request: Request) -> FileBatches:
    return request.app.state.file_batches


@router.post("", response_model=VectorStore, openapi_extra=accepts(VectorStoreCreateParams))
async def create_vector_store(
    request: Request, owner: Owner, body: Annotated[VectorStoreCreateParams, parsed(CREATE)]
) -> Response:
    return dump(await call(stores(request).create, owner, body))


@router.get("", response_model=Page[VectorStore])
async def list_vector_stores(
    request: Request, owner: Owner, page: Annotated[ListQuery, listing()]
) -> Response:
    return dump(await call(stores(request).list, owner, page))


@router.get("/{vector_store_id}", response_model=VectorStore)
async def retrieve_vector_store(vector_store_id: str, request: Request, owner: Owner) -> Response:
    return dump(await call(stores(request).retrieve, owner, vector_store_id))


@router.post(
    "/{vector_store_id}", response_model=VectorStore, openapi_extra=accepts(VectorStoreUpdateParams)
)
async def modify_vector_store(
    vector_store_id: str,
    request: Request,
    owner: Owner,
    body: Annotated[VectorStoreUpdateParams, parsed(MODIFY)],
) -> Response:
    return dump(await call(stores(request).update, owner, vector_store_id, body))


@router.delete("/{vector_store_id}", response_model=VectorStoreDeleted)
async def delete_vector_store(vector_store_id: str, request: Request, owner: Owner) -> Response:
    return dump(await call(stores(request).delete, owner, vector_store_id))


@router.post(
    "/{vector_store_id}/search",
    response_model=SearchPage,
    openapi_extra=accepts(VectorStoreSearchParams),
)
async def search_vector_store(
    vector_store_id: str,
    request: Request,
    owner: Owner,
    body: Annotated[VectorStoreSearchParams, parsed(SEARCH)],
) -> Response:
    return dump(await call(stores(request).search, owner, vector_store_id, body))


# -- files ----------------------------------------------------------------------------


@router.post(
    "/{vector_store_id}/files",
    response_model=VectorStoreFile,
    openapi_extra=accepts(FileCreateParams),
)
async def create_vector_store_file(
    vector_store_id: str,
    request: Request,
    owner: Owner,
    body: Annotated[FileCreateParams, parsed(FILE_CREATE)],
) -> Response:
    return dump(await call(store_files(request).create, owner, vector_store_id, body))


@router.get("/{vector_store_id}/files", response_model=Page[VectorStoreFile])
async def list_vector_store_files(
    vector_store_id: str,
    request: Request,
    owner: Owner,
    page: Annotated[ListQuery, listing("filter")],
) -> Response:
    status = status_filter(query(request).get("filter"))
    return dump(await call(store_files(request).list, owner, vector_store_id, page, status))


@router.get("/{vector_store_id}/files/{file_id}", response_model=VectorStoreFile)
async def retrieve_vector_store_file(
    vector_store_id: str, file_id: str, request: Request, owner: Owner
) -> Response:
    return dump(await call(store_files(request).retrieve, owner, vector_store_id, file_id))


@router.post(
    "/{vector_store_id}/files/{file_id}",
    response_model=VectorStoreFile,
    openapi_extra=accepts(FileUpdateParams, path=("vector_store_id",)),
)
async def update_vector_store_file(
    vector_store_id: str,
    file_id: str,
    request: Request,
    owner: Owner,
    body: Annotated[FileUpdateParams, parsed(FILE_UPDATE)],
) -> Response:
    return dump(await call(store_files(request).update, owner, vector_store_id, file_id, body))


@router.delete("/{vector_store_id}/files/{file_id}", response_model=VectorStoreFileDeleted)
async def delete_vector_store_file(
    vector_store_id: str, file_id: str, request: Request, owner: Owner
) -> Response:
    return dump(await call(store_files(request).delete, owner, vector_store_id, file_id))


@router.get("/{vector_store_id}/files/{file_id}/content", response_model=FileContentPage)
async def vector_store_file_content(
    vector_store_id: str, file_id: str, request: Request, owner: Owner
) -> Response:
    return dump(await call(store_files(request).content, owner, vector_store_id, file_id))


# -- file batches ---------------------------------------------------------------------


@router.post(
    "/{vector_store_id}/file_batches",
    response_model=VectorStoreFileBatch,
    openapi_extra=accepts(FileBatchCreateParams),
)
async def create_file_batch(
    vector_store_id: str,
    request: Request,
    owner: Owner,
    body: Annotated[FileBatchCreateParams, parsed(BATCH_CREATE)],
) -> Response:
    return dump(await call(batches(request).create, owner, vector_store_id, body))


@router.get("/{vector_store_id}/file_batches/{batch_id}", response_model=VectorStoreFileBatch)
async def retrieve_file_batch(
    vector_store_id: str, batch_id: str, request: Request, owner: Owner
) -> Response:
    return dump(await call(batches(request).retrieve, owner, vector_store_id, batch_id))


@router.post(
    "/{vector_store_id}/file_batches/{batch_id}/cancel", response_model=VectorStoreFileBatch
)
async def cancel_file_batch(
    vector_store_id: str, batch_id: str, request: Request, owner: Owner
) -> Response:
    return dump(await call(batches(request).cancel, owner, vector_store_id, batch_id))


@router.get(
    "/{vector_store_id}/file_batches/{batch_id}/files", response_model=Page[VectorStoreFile]
)
async def list_file_batch_files(
    vector_store_id: str,
    batch_id: str,
    request: Request,
    owner: Owner,
    page: Annotated[ListQuery, listing("filter")],
) -> Response:
    status = status_filter(query(request).get("filter"))
    return dump(
        await call(batches(request).list_files, owner, vector_store_id, batch_id, page, status)
    )
