"""``/v1/files``: multipart uploads, lists, downloads, deletes.

The size limit is checked on ``Content-Length`` before the body is read (a
413 that costs nothing), then again on the bytes actually received.
"""

from __future__ import annotations

import mimetypes
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.datastructures import UploadFile

from nbext.api.edge import Owner, call, dump, query
from nbext.api.files.service import Files, too_large
from nbext.errors import invalid

router = APIRouter(prefix="/files", tags=["Files"])

_FORM_OVERHEAD = 64 * 1024
"""Room for the multipart framing and the other fields beside the file."""


def files(request: Request) -> Files:
    return request.app.state.files


_OMITTED_WHEN_NULL = ("expires_at", "status_details")


def dump_files(value: BaseModel) -> dict[str, Any]:
    """A file (or a page of them): OpenAI leaves out ``expires_at`` and the deprecated
    ``status_details`` when they have no value, rather than sending null."""
    wire = dump(value)
    for item in wire.get("data", [wire]) if isinstance(wire.get("data"), list) else [wire]:
        for key in _OMITTED_WHEN_NULL:
            if item.get(key, 0) is None:
                del item[key]
    return wire


@router.post("")
async def upload_file(request: Request, owner: Owner) -> Any:
    service = files(request)
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > service.max_bytes + _FORM_OVERHEAD:
        raise too_large(int(declared), service.max_bytes)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise invalid(
            "Uploads must be sent as multipart/form-data with a 'file' and a 'purpose' field.",
            "file",
        )
    form = await request.form(max_files=1, max_fields=16)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise invalid(
                "Missing required parameter: 'file'.", "file", "missing_required_parameter"
            )
        data = await upload.read(service.max_bytes + 1)
        if len(data) > service.max_bytes:
            raise too_large(None, service.max_bytes)
        expires_after = None
        if form.get("expires_after[anchor]") is not None:
            seconds = str(form.get("expires_after[seconds]") or "")
            expires_after = {
                "anchor": form.get("expires_after[anchor]"),
                "seconds": int(seconds) if seconds.isdigit() else seconds,
            }
        purpose = form.get("purpose")
        return dump_files(
            await call(service.create, owner, upload.filename, data, purpose, expires_after)
        )
    finally:
        await form.close()


@router.get("")
async def list_files(request: Request, owner: Owner) -> Any:
    return dump_files(await call(files(request).list, owner, query(request)))


@router.get("/{file_id}")
async def retrieve_file(file_id: str, request: Request, owner: Owner) -> Any:
    return dump_files(await call(files(request).retrieve, owner, file_id))


@router.get("/{file_id}/content")
async def file_content(file_id: str, request: Request, owner: Owner) -> Any:
    file, data = await call(files(request).content, owner, file_id)
    media = mimetypes.guess_type(file.filename)[0] or "application/octet-stream"
    disposition = f"attachment; filename*=UTF-8''{quote(file.filename)}"
    return Response(data, media_type=media, headers={"Content-Disposition": disposition})


@router.delete("/{file_id}")
async def delete_file(file_id: str, request: Request, owner: Owner) -> Any:
    return dump(await call(files(request).delete, owner, file_id))
