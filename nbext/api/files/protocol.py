"""What ``POST /v1/files`` accepts: a multipart upload, checked as OpenAI checked it.

The purposes an upload may have, a size limit (checked on ``Content-Length``
before the body is read, then on the bytes received), no empty files, and
an optional ``expires_after`` of 1 hour to 30 days after creation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nbext.api.validation import invalid_choice
from nbext.errors import APIError, invalid

UPLOAD_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data")
"""What a client may upload as (OpenAI's list, less ``evals``, which has no SDK type)."""
MAX_PAGE = 10_000
"""OpenAI allowed pages of up to 10,000 files; this server pages by at most 100."""


@dataclass(frozen=True)
class Upload:
    """A checked upload: what ``Files.create`` stores."""

    filename: str | None
    data: bytes
    purpose: str
    expires_after_seconds: int | None = None


def too_large(size: int | None, limit: int) -> APIError:
    shown = f"{size:,} bytes" if size is not None else "more"
    return APIError(
        f"File is too large: {shown}, but this server accepts files of at most {limit:,} bytes "
        f"({limit / 1024 / 1024:g} MiB).",
        status=413,
        param="file",
        code="file_too_large",
    )


def parse_upload(
    filename: str | None,
    data: bytes,
    purpose: Any,
    expires_after: dict[str, Any] | None,
    *,
    max_bytes: int,
) -> Upload:
    if purpose is None or purpose == "":
        raise invalid(
            "Missing required parameter: 'purpose'.", "purpose", "missing_required_parameter"
        )
    if purpose not in UPLOAD_PURPOSES:
        raise invalid_choice("purpose", purpose, UPLOAD_PURPOSES, lead="This server accepts")
    if len(data) > max_bytes:
        raise too_large(len(data), max_bytes)
    if not data:
        raise invalid("The file is empty: upload a file with some content.", "file")
    seconds = None
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
    return Upload(filename, data, purpose, seconds)


def list_query(query: dict[str, str]) -> dict[str, str]:
    """The list query without ``purpose``, a ``limit`` above 100 read as 100."""
    query = {key: value for key, value in query.items() if key != "purpose"}
    limit = query.get("limit")
    if limit is not None and str(limit).isdigit() and 100 < int(limit) <= MAX_PAGE:
        query["limit"] = "100"
    return query
