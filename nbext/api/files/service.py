"""Files: uploaded bytes on disk, their ``FileObject`` in the database.

A file's bytes live in ``<data dir>/files/<file id>`` (never under the name
the client sent, so no upload can choose where it is written); the metadata
is the SDK's ``FileObject`` in the store, like every other object. Files the
tools write (code_interpreter plots and outputs) are files too, with purpose
``assistants_output``, and are downloaded with the same ``/content`` route.

OpenAI's rules kept here: the purposes an upload may have, a size limit
(OpenAI allowed 512 MB; this server defaults to 32 MiB, see
:data:`DEFAULT_MAX_FILE_BYTES`), 404 for another owner's file, and deleting
a file removes it from every vector store (the vector store service
registers that through :attr:`Files.on_delete`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path, PurePath
from typing import Any

from openai.types import FileDeleted, FileObject

from nbext.errors import APIError, invalid
from nbext.ids import new_file_id
from nbext.store import FILES, ListQuery, Page, Store

DEFAULT_MAX_FILE_BYTES = 32 * 1024 * 1024
UPLOAD_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data")
"""What a client may upload as (OpenAI's list, less ``evals``, which has no SDK type)."""
OUTPUT_PURPOSE = "assistants_output"


def too_large(size: int | None, limit: int) -> APIError:
    shown = f"{size:,} bytes" if size is not None else "more"
    return APIError(
        f"File is too large: {shown}, but this server accepts files of at most {limit:,} bytes "
        f"({limit / 1024 / 1024:g} MiB).",
        status=413,
        param="file",
        code="file_too_large",
    )


def clean_filename(name: str | None) -> str:
    """The name as shown to users and the model: no directories, never empty."""
    base = PurePath((name or "").replace("\\", "/")).name.strip()
    return base[:255] or "upload"


class Files:
    """Files of every owner: bytes under ``directory``, metadata in ``store``."""

    def __init__(
        self,
        store: Store,
        directory: Path,
        *,
        max_bytes: int = DEFAULT_MAX_FILE_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.clock = clock
        self.on_delete: list[Callable[[str, str], None]] = []
        """Called with ``(owner, file_id)`` before a file is deleted."""

    def path(self, file_id: str) -> Path:
        return self.directory / file_id

    # -- the API ---------------------------------------------------------------

    def create(
        self,
        owner: str,
        filename: str | None,
        data: bytes,
        purpose: Any,
        expires_after: Mapping[str, Any] | None = None,
    ) -> FileObject:
        if purpose is None or purpose == "":
            raise invalid(
                "Missing required parameter: 'purpose'.", "purpose", "missing_required_parameter"
            )
        if purpose not in UPLOAD_PURPOSES:
            raise invalid(
                f"Invalid value for 'purpose': '{purpose}'. This server accepts: "
                + ", ".join(f"'{p}'" for p in UPLOAD_PURPOSES)
                + ".",
                "purpose",
                "invalid_value",
            )
        if len(data) > self.max_bytes:
            raise too_large(len(data), self.max_bytes)
        if not data:
            raise invalid("The file is empty: upload a file with some content.", "file")
        expires_at = None
        if expires_after is not None:
            seconds = expires_after.get("seconds")
            if expires_after.get("anchor") != "created_at" or not isinstance(seconds, int):
                raise invalid(
                    "'expires_after' must be {'anchor': 'created_at', 'seconds': <int>}.",
                    "expires_after",
                )
            if not 3600 <= seconds <= 2_592_000:
                raise invalid(
                    "'expires_after.seconds' must be between 3600 (1 hour) and 2592000 (30 days).",
                    "expires_after.seconds",
                )
            expires_at = int(self.clock()) + seconds
        return self._save(owner, clean_filename(filename), data, purpose, expires_at)

    def create_output(self, owner: str, filename: str, data: bytes) -> FileObject:
        """A file a tool wrote (purpose ``assistants_output``)."""
        return self._save(owner, clean_filename(filename), data, OUTPUT_PURPOSE, None)

    def retrieve(self, owner: str, file_id: str) -> FileObject:
        return self.store.get(FILES, owner, file_id)

    def find(self, owner: str, file_id: str) -> FileObject | None:
        return self.store.find(FILES, owner, file_id)

    def content(self, owner: str, file_id: str) -> tuple[FileObject, bytes]:
        file = self.retrieve(owner, file_id)
        try:
            return file, self.path(file_id).read_bytes()
        except FileNotFoundError:
            raise APIError(
                f"The content of file '{file_id}' is missing on the server.",
                status=500,
                type="server_error",
            ) from None

    def list(self, owner: str, query: Mapping[str, Any] | None = None) -> Page[FileObject]:
        """Newest first; ``purpose`` filters (OpenAI allows up to 10,000 per page)."""
        query = dict(query or {})
        purpose = query.pop("purpose", None)
        limit = query.get("limit")
        if limit is not None and str(limit).isdigit() and 100 < int(limit) <= 10_000:
            query["limit"] = "100"  # this server pages by at most 100
        page = ListQuery.parse(query)
        where = {"purpose": purpose} if purpose else {}
        return self.store.list(FILES, owner, page, **where)

    def delete(self, owner: str, file_id: str) -> FileDeleted:
        self.retrieve(owner, file_id)
        for hook in self.on_delete:
            hook(owner, file_id)
        self.store.delete(FILES, owner, file_id)
        self.path(file_id).unlink(missing_ok=True)
        return FileDeleted(id=file_id, object="file", deleted=True)

    # -- internals -------------------------------------------------------------

    def _save(
        self, owner: str, filename: str, data: bytes, purpose: str, expires_at: int | None
    ) -> FileObject:
        file = FileObject(
            id=new_file_id(),
            object="file",
            bytes=len(data),
            created_at=int(self.clock()),
            filename=filename,
            purpose=purpose,  # type: ignore[arg-type]
            status="processed",
            expires_at=expires_at,
            status_details=None,
        )
        target = self.path(file.id)
        partial = target.with_suffix(".part")
        partial.write_bytes(data)
        partial.replace(target)
        self.store.insert(FILES, owner, file, purpose=purpose)
        return file
