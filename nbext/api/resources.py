"""``tool_resources`` in a request body, checked and resolved by the tools' hooks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nbext.engine.lifecycle import Runtime
from nbext.errors import invalid


def resolve_resources(rt: Runtime, owner: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """``tool_resources`` checked (unknown ids are 404s) and ``vector_stores`` created."""
    if body.get("tool_resources"):
        try:
            resolved = rt.tools.hooks.resolve_tool_resources(owner, body["tool_resources"])
        except LookupError as exc:
            raise invalid(
                f"'tool_resources' cannot be used here: {exc}.", param="tool_resources"
            ) from None
        return {**body, "tool_resources": resolved}
    return dict(body)
