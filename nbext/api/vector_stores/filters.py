"""OpenAI's attribute filters for vector store search: comparisons, ``and``, ``or``.

``{"type": "eq", "key": "author", "value": "Ada"}``; ``{"type": "and", "filters": [...]}``.
A comparison whose types do not compare (a number with a string) is false.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from nbext.errors import invalid

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a is not None and a > b,
    "gte": lambda a, b: a is not None and a >= b,
    "lt": lambda a, b: a is not None and a < b,
    "lte": lambda a, b: a is not None and a <= b,
    "in": lambda a, b: a in b,
    "nin": lambda a, b: a not in b,
}


def matches(condition: Mapping[str, Any], attributes: Mapping[str, Any]) -> bool:
    """OpenAI's attribute filters: ``{"type": "eq", "key": k, "value": v}``, and/or."""
    kind = condition.get("type")
    if kind in ("and", "or"):
        parts = [matches(c, attributes) for c in condition.get("filters") or []]
        return all(parts) if kind == "and" else any(parts)
    compare = _COMPARISONS.get(str(kind))
    if compare is None or "key" not in condition:
        raise invalid(f"Invalid filter: {dict(condition)!r}.", "filters")
    try:
        return compare(attributes.get(condition["key"]), condition.get("value"))
    except TypeError:
        return False
