"""Files: uploaded bytes on disk, their ``FileObject`` in the database.

A file's bytes live in ``<data dir>/files/<file id>`` (never under the name
the client sent, so no upload can choose where it is written); the metadata
is the SDK's ``FileObject`` in the store, like every other object. Files the
tools write (code_interpreter plots and outputs) are files too, with purpose
``assistants_output``, and are downloaded with the same ``/content`` route.

OpenAI's rules kept here: a size limit (OpenAI allowed 512 MB; this server
defaults to 32 MiB, see :data:`DEFAULT_MAX_FILE_BYTES`; what an upload may
be is checked at the edge, :mod:`.protocol`), 404 for another owner's file, and deleting
a file removes it from every vector store (the vector store service
registers that through :attr:`Files.on_delete`).

A file uploaded with ``expires_after`` carries ``expires_at`` (``created_at`` +
seconds). Once past it the file is gone, as on OpenAI: every lookup answers 404,
and uploads and lists delete expired files for good (bytes, record, and their
place in vector stores). Lookups do not delete, because the tools look files up
while holding the vector store ingestion lock that deleting takes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Callable
from pathlib import Path, PurePath

from openai.types import FileDeleted, FileObject

from nbext.api.files.protocol import Upload
from nbext.errors import APIError, not_found
from nbext.ids import new_file_id
from nbext.store import FILES, ListQuery, Page, Store

DEFAULT_MAX_FILE_BYTES = 32 * 1024 * 1024
OUTPUT_PURPOSE = "assistants_output"
ORPHAN_GRACE_S = 600
"""A file without a row is removed at start-up once this old: younger, it may be
a live server's upload between its rename and its row (two servers, one home)."""


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
        self._sweep()

    def path(self, file_id: str) -> Path:
        return self.directory / file_id

    # -- the API ---------------------------------------------------------------

    def create(self, owner: str, upload: Upload) -> FileObject:
        """An upload, already checked at the edge (:func:`~.protocol.parse_upload`)."""
        expires_at = None
        if upload.expires_after_seconds is not None:
            expires_at = int(self.clock()) + upload.expires_after_seconds
        filename = clean_filename(upload.filename)
        self._delete_expired(owner)
        return self._save(owner, filename, upload.data, upload.purpose, expires_at)

    def create_output(self, owner: str, filename: str, data: bytes) -> FileObject:
        """A file a tool wrote (purpose ``assistants_output``)."""
        return self._save(owner, clean_filename(filename), data, OUTPUT_PURPOSE, None)

    def retrieve(self, owner: str, file_id: str) -> FileObject:
        file = self.find(owner, file_id)
        if file is None:
            raise not_found("file", file_id)
        return file

    def find(self, owner: str, file_id: str) -> FileObject | None:
        file = self.store.find(FILES, owner, file_id)
        return None if file is None or self._expired(file) else file

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

    def list(
        self, owner: str, page: ListQuery | None = None, purpose: str | None = None
    ) -> Page[FileObject]:
        """Newest first; ``purpose`` filters."""
        where = {"purpose": purpose} if purpose else {}
        self._delete_expired(owner)
        return self.store.list(FILES, owner, page or ListQuery(), **where)

    def delete(self, owner: str, file_id: str) -> FileDeleted:
        self.retrieve(owner, file_id)
        self._remove(owner, file_id)
        return FileDeleted(id=file_id, object="file", deleted=True)

    # -- expiry ------------------------------------------------------------------

    def _expired(self, file: FileObject) -> bool:
        return file.expires_at is not None and file.expires_at <= self.clock()

    def _delete_expired(self, owner: str) -> None:
        for file in self.store.all(FILES, owner):
            if self._expired(file):
                self._remove(owner, file.id)

    # -- internals -------------------------------------------------------------

    def _remove(self, owner: str, file_id: str) -> None:
        for hook in self.on_delete:
            hook(owner, file_id)
        self.store.delete(FILES, owner, file_id)
        self.path(file_id).unlink(missing_ok=True)

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
        # Named after this process, so a start-up sweep knows a dead one's leftovers.
        partial = self.directory / f".{file.id}.{os.getpid()}.part"
        try:
            partial.write_bytes(data)
            partial.replace(target)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise APIError(
                    f"The server has no space left to store this file ({len(data)} bytes); "
                    "nothing was stored. Delete files or ask the server's host for room.",
                    status=507,
                    type="server_error",
                ) from None
            raise
        try:
            self.store.insert(FILES, owner, file, purpose=purpose)
        except BaseException:
            target.unlink(missing_ok=True)  # bytes without a row would never be freed
            raise
        return file

    def _sweep(self) -> None:
        """At start-up: remove what a killed server left half-saved.

        A partial file of a process that is gone, and a file that has no row
        (killed between the rename and the insert) once it is old enough that
        no live server can still be inserting it.
        """
        known = {row.id for row in self.store.columns(FILES, ["id"])}
        now = self.clock()
        for entry in self.directory.iterdir():
            name = entry.name
            if name.endswith(".part"):
                writer = name.removesuffix(".part").rpartition(".")[2]
                if not (writer.isdigit() and _alive(int(writer))):
                    entry.unlink(missing_ok=True)
            elif name not in known and entry.is_file():
                with contextlib.suppress(FileNotFoundError):
                    if now - entry.stat().st_mtime > ORPHAN_GRACE_S:
                        entry.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
