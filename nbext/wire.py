"""How an SDK object is written on the wire, the way OpenAI wrote it.

OpenAI sends every field of an API object (anything with an ``object`` key),
nulls included: ``"description": null``. Inside such an object, optional
parts that are absent are left out rather than sent as null
(``"tool_resources": {}``, not ``{"code_interpreter": null}``). A plain
``model_dump`` cannot tell the two apart once an object has been through the
database, so the rule is applied here, in one place, for every response.
Deltas are different: they carry only what changed (``exclude_unset``), or
the SDK would merge nulls over the snapshot it is accumulating.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel


def _prune(node: Any, *, keep_nulls: bool) -> Any:
    if isinstance(node, list):
        return [_prune(item, keep_nulls=False) for item in node]
    if not isinstance(node, dict):
        return node
    keep = keep_nulls or "object" in node
    return {
        key: _prune(value, keep_nulls=False)
        for key, value in node.items()
        if value is not None or keep
    }


def to_wire(value: BaseModel) -> dict[str, Any]:
    """A whole object (or list page) as OpenAI sent it."""
    return _prune(value.model_dump(mode="json", by_alias=True), keep_nulls=True)


def delta_to_wire(value: BaseModel) -> dict[str, Any]:
    """A ``*.delta`` event's payload: only the fields that changed."""
    return value.model_dump(mode="json", by_alias=True, exclude_unset=True)


def event_data(name: str, value: BaseModel) -> str:
    """The ``data:`` line of a streamed Assistants event."""
    wire = delta_to_wire(value) if name.endswith(".delta") else to_wire(value)
    return json.dumps(wire, separators=(",", ":"))
