"""``/v1/vector_stores``: stores, their files and file batches, and search."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from nbext.api.edge import Owner, call, dump, json_body, query
from nbext.api.vector_stores.service import FileBatches, VectorStoreFiles, VectorStores

router = APIRouter(prefix="/vector_stores", tags=["Vector stores"])


def stores(request: Request) -> VectorStores:
    return request.app.state.vector_stores


def store_files(request: Request) -> VectorStoreFiles:
    return request.app.state.vector_store_files


def batches(request: Request) -> FileBatches:
    return request.app.state.file_batches


@router.post("")
async def create_vector_store(request: Request, owner: Owner) -> Any:
    return dump(await call(stores(request).create, owner, await json_body(request)))


@router.get("")
async def list_vector_stores(request: Request, owner: Owner) -> Any:
    return dump(await call(stores(request).list, owner, query(request)))


@router.get("/{vector_store_id}")
async def retrieve_vector_store(
    vector_store_id: str, request: Request, owner: Owner
) -> Any:
    return dump(await call(stores(request).retrieve, owner, vector_store_id))


@router.post("/{vector_store_id}")
async def modify_vector_store(
    vector_store_id: str, request: Request, owner: Owner
) -> Any:
    body = await json_body(request)
    return dump(await call(stores(request).update, owner, vector_store_id, body))


@router.delete("/{vector_store_id}")
async def delete_vector_store(
    vector_store_id: str, request: Request, owner: Owner
) -> Any:
    return dump(await call(stores(request).delete, owner, vector_store_id))


@router.post("/{vector_store_id}/search")
async def search_vector_store(
    vector_store_id: str, request: Request, owner: Owner
) -> Any:
    body = await json_body(request)
    return dump(await call(stores(request).search, owner, vector_store_id, body))


# -- files ----------------------------------------------------------------------------


@router.post("/{vector_store_id}/files")
async def create_vector_store_file(
    vector_store_id: str, request: Request, owner: Owner
) -> Any:
    body = await json_body(request)
    return dump(await call(store_files(request).create, owner, vector_store_id, body))


@router.get("/{vector_store_id}/files")
async def list_vector_store_files(
    vector_store_id: str, request: Request, owner: Owner
) -> Any:
    return dump(await call(store_files(request).list, owner, vector_store_id, query(request)))


@router.get("/{vector_store_id}/files/{file_id}")
async def retrieve_vector_store_file(
    vector_store_id: str, file_id: str, request: Request, owner: Owner
) -> Any:
    return dump(await call(store_files(request).retrieve, owner, vector_store_id, file_id))


@router.post("/{vector_store_id}/files/{file_id}")
async def update_vector_store_file(
    vector_store_id: str, file_id: str, request: Request, owner: Owner
) -> Any:
    body = await json_body(request)
    return dump(await call(store_files(request).update, owner, vector_store_id, file_id, body))


@router.delete("/{vector_store_id}/files/{file_id}")
async def delete_vector_store_file(
    vector_store_id: str, file_id: str, request: Request, owner: Owner
) -> Any:
    return dump(await call(store_files(request).delete, owner, vector_store_id, file_id))


@router.get("/{vector_store_id}/files/{file_id}/content")
async def vector_store_file_content(
    vector_store_id: str, file_id: str, request: Request, owner: Owner
) -> Any:
    return dump(await call(store_files(request).content, owner, vector_store_id, file_id))


# -- file batches ---------------------------------------------------------------------


@router.post("/{vector_store_id}/file_batches")
async def create_file_batch(
    vector_store_id: str, request: Request, owner: Owner
) -> Any:
    body = await json_body(request)
    return dump(await call(batches(request).create, owner, vector_store_id, body))


@router.get("/{vector_store_id}/file_batches/{batch_id}")
async def retrieve_file_batch(
    vector_store_id: str, batch_id: str, request: Request, owner: Owner
) -> Any:
    return dump(await call(batches(request).retrieve, owner, vector_store_id, batch_id))


@router.post("/{vector_store_id}/file_batches/{batch_id}/cancel")
async def cancel_file_batch(
    vector_store_id: str, batch_id: str, request: Request, owner: Owner
) -> Any:
    return dump(await call(batches(request).cancel, owner, vector_store_id, batch_id))


@router.get("/{vector_store_id}/file_batches/{batch_id}/files")
async def list_file_batch_files(
    vector_store_id: str, batch_id: str, request: Request, owner: Owner
) -> Any:
    return dump(
        await call(
            batches(request).list_files, owner, vector_store_id, batch_id, query(request)
        )
    )
