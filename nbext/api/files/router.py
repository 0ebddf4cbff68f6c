"""``/v1/files``: multipart uploads, lists, downloads, deletes.

The size limit is checked on ``Content-Length`` before the body is read (a
413 that costs nothing), then again on the bytes actually received.
"""

from __future__ import annotations

import mimetypes
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from openai.types import FileDeleted, FileObject
from pydantic import BaseModel
from starlette.datastructures import UploadFile

from nbext.api.edge import Owner, call, dump, query
from nbext.api.files.protocol import list_query, parse_upload, too_large
from nbext.api.files.service import Files
from nbext.errors import invalid, unknown_parameter
from nbext.store import ListQuery, Page
from nbext.wire import to_wire

router = APIRouter(prefix="/files", tags=["Files"])

_FORM_OVERHEAD = 64 * 1024
"""Room for the multipart framing and the other fields beside the file."""
_UPLOAD_FIELDS = ("file", "purpose", "expires_after[anchor]", "expires_after[seconds]")
"""The form fields of an upload, as the openai SDK sends them."""


def files(request: Request) -> Files:
    return request.app.state.files


_OMITTED_WHEN_NULL = ("expires_at", "status_details")


def dump_files(value: BaseModel) -> JSONResponse:
    """A file (or a page of them): OpenAI leaves out ``expires_at`` and the deprecated
    ``status_details`` when they have no value, rather than sending null."""
    wire = to_wire(value)
    for item in wire.get("data", [wire]) if isinstance(wire.get("data"), list) else [wire]:
        for key in _OMITTED_WHEN_NULL:
            if item.get(key, 0) is None:
                del item[key]
    return JSONResponse(wire)


@router.post("", response_model=FileObject)
async def upload_file(request: Request, owner: Owner) -> Response:
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
        unknown = [key for key in form if key not in _UPLOAD_FIELDS]
        if unknown:  # as the JSON bodies: a name OpenAI does not know is refused
            raise unknown_parameter(unknown[0])
        expires_after = None
        if any(key.startswith("expires_after") for key in form):
            seconds = str(form.get("expires_after[seconds]") or "")
            expires_after = {
                "anchor": form.get("expires_after[anchor]"),
                "seconds": int(seconds) if seconds.isdigit() else seconds,
            }
        checked = parse_upload(
            upload.filename, data, form.get("purpose"), expires_after, max_bytes=service.max_bytes
        )
        return dump_files(await call(service.create, owner, checked))
    finally:
        await form.close()


@router.get("", response_model=Page[FileObject])
async def list_files(request: Request, owner: Owner) -> Response:
    page = ListQuery.parse(list_query(query(request)))
    purpose = query(request).get("purpose")
    return dump_files(await call(files(request).list, owner, page, purpose))


@router.get("/{file_id}", response_model=FileObject)
async def retrieve_file(file_id: str, request: Request, owner: Owner) -> Response:
    return dump_files(await call(files(request).retrieve, owner, file_id))


@router.get("/{file_id}/content", response_class=Response)
async def file_content(file_id: str, request: Request, owner: Owner) -> Response:
    file, data = await call(files(request).content, owner, file_id)
    media = mimetypes.guess_type(file.filename)[0] or "application/octet-stream"
    disposition = f"attachment; filename*=UTF-8''{quote(file.filename)}"
    return Response(data, media_type=media, headers={"Content-Disposition": disposition})


@router.delete("/{file_id}", response_model=FileDeleted)
async def delete_file(file_id: str, request: Request, owner: Owner) -> Response:
    return dump(await call(files(request).delete, owner, file_id))
