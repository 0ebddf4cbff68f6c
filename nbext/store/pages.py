"""OpenAI's cursor pagination: the query a list endpoint accepts and the page it returns.

A list is ordered by creation; ``after``/``before`` name an object of the
list (not a position), so pages stay correct while objects are added.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel

from nbext.errors import invalid, unknown_parameter

T = TypeVar("T")

Order = Literal["asc", "desc"]


@dataclass(frozen=True)
class ListQuery:
    """``limit`` (1-100, default 20), ``order`` (default ``desc``), ``after``, ``before``."""

    limit: int = 20
    order: Order = "desc"
    after: str | None = None
    before: str | None = None

    @classmethod
    def parse(cls, query: Mapping[str, Any], extra: tuple[str, ...] = ()) -> ListQuery:
        """Validate a parsed query string; values may still be strings (``"20"``).

        ``extra`` names the endpoint's own filters (e.g. ``run_id``), which the
        caller reads itself; anything else is refused, as OpenAI refuses it.
        """
        for key in query:
            if key not in ("limit", "order", "after", "before", *extra):
                raise unknown_parameter(key)
        limit = query.get("limit", 20)
        try:
            limit = int(limit)
        except (TypeError, ValueError):
            raise invalid(
                f"Invalid 'limit': expected an integer, but got {limit!r} instead.",
                param="limit",
                code="invalid_type",
            ) from None
        if not 1 <= limit <= 100:
            raise invalid(
                f"Invalid 'limit': expected a value between 1 and 100, but got {limit} instead.",
                param="limit",
                code="integer_out_of_range",
            )
        order = query.get("order", "desc")
        if order not in ("asc", "desc"):
            raise invalid(
                f"Invalid value: '{order}'. Supported values are: 'asc' and 'desc'.",
                param="order",
                code="invalid_value",
            )
        return cls(limit=limit, order=order, after=query.get("after"), before=query.get("before"))


class Page(BaseModel, Generic[T]):
    """The ``{"object": "list", ...}`` body every list endpoint returns."""

    object: Literal["list"] = "list"
    data: list[T]
    first_id: str | None
    last_id: str | None
    has_more: bool
