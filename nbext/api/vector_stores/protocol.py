"""What the vector store endpoints accept and return beyond the SDK's own types.

Request bodies are checked against OpenAI's contract (limits included);
``search`` and ``files/{id}/content`` answer with pages the SDK reads as
``SyncPage`` (it has no model of its own for them), defined here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from nbext.api.validation import (
    Check,
    any_object,
    array,
    boolean,
    by_type,
    integer,
    invalid_choice,
    metadata,
    nullable,
    number,
    obj,
    string,
    unsupported,
)
from nbext.errors import invalid

FILE_STATUSES = ("in_progress", "completed", "failed", "cancelled")


EXPIRES_AFTER = obj(
    {"anchor": string(enum=["last_active_at"]), "days": integer(minimum=1, maximum=365)},
    required=("anchor", "days"),
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
        "name": string(max_length=256),
        "description": string(max_length=512),
        "file_ids": array(string(), max_items=500),
        "expires_after": EXPIRES_AFTER,
        "chunking_strategy": any_object(),
        "metadata": metadata(),
    }
)
MODIFY = obj(
    {
        "name": nullable(string(max_length=256)),
        "expires_after": nullable(EXPIRES_AFTER),  # null: the store no longer expires
        "metadata": metadata(),
    }
)
FILE_CREATE = obj(
    {"file_id": string(), "chunking_strategy": any_object(), "attributes": ATTRIBUTES},
    required=("file_id",),
)
FILE_UPDATE = obj({"attributes": ATTRIBUTES}, required=("attributes",))
_BATCH_FIELDS = obj(
    {
        "file_ids": array(string(), min_items=1, max_items=2000),
        "files": array(FILE_CREATE, min_items=1, max_items=2000),
        "chunking_strategy": any_object(),
        "attributes": ATTRIBUTES,
    }
)


def BATCH_CREATE(value: Any, param: str) -> dict[str, Any]:
    """The fields, and exactly one of ``file_ids`` and ``files``."""
    body: dict[str, Any] = _BATCH_FIELDS(value, param)
    if ("file_ids" in body) == ("files" in body):
        raise invalid("Provide exactly one of 'file_ids' and 'files'.", "file_ids")
    return body


SEARCH = obj(
    {
        "query": by_type(
            {str: string(), list: array(string(), min_items=1)}, "a string or an array"
        ),
        "rewrite_query": unsupported(
            boolean(),
            "no model rewrites the query here, it is searched as given; leave it false",
            accepted=(None, False),
        ),
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


def status_filter(value: str | None) -> str | None:
    """The ``filter`` of a list of vector store files: one status, or None."""
    if value in (None, ""):
        return None
    if value not in FILE_STATUSES:
        raise invalid_choice("filter", value, FILE_STATUSES)
    return value


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
