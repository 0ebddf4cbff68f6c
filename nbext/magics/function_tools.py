"""Python functions as Assistants function tools: schema in, outputs back.

``%%assistant --functions f,g`` turns functions from the learner's namespace
into ``{"type": "function", ...}`` tools. The JSON schema comes from the type
hints (``str``, ``int``, ``float``, ``bool``, ``list[...]``, ``dict``,
``Literal[...]``, ``X | None``) and the docstring: its first paragraph is the
description, and ``name: text`` lines under ``Args:`` (or ``:param name:``)
describe the parameters — the same conventions the learner already writes.
"""

from __future__ import annotations

import inspect
import json
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_SIMPLE = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object"}


def json_type(hint: Any) -> dict[str, Any]:
    """The JSON schema of one annotation; unknown types become a plain string."""
    if hint in _SIMPLE:
        return {"type": _SIMPLE[hint]}
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Literal:
        return {"type": _SIMPLE.get(type(args[0]), "string"), "enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        kept = [a for a in args if a is not type(None)]
        return json_type(kept[0]) if len(kept) == 1 else {"anyOf": [json_type(a) for a in kept]}
    if origin in (list, tuple, set, frozenset) or hint in (list, tuple):
        return {"type": "array", "items": json_type(args[0]) if args else {}}
    if origin is dict:
        return {"type": "object"}
    return {"type": "string"}


def _docstring_parts(doc: str) -> tuple[str, dict[str, str]]:
    """(description, {param: text}) from a Google- or Sphinx-style docstring."""
    doc = inspect.cleandoc(doc or "")
    description = doc.split("\n\n", 1)[0].replace("\n", " ").strip()
    params: dict[str, str] = {}
    for match in re.finditer(r"^\s*:param\s+(\w+):\s*(.+)$", doc, re.M):
        params[match.group(1)] = match.group(2).strip()
    section = re.search(r"^(?:Args|Arguments|Parameters):\s*\n((?:[ \t]+.+\n?)+)", doc, re.M)
    if section:
        for match in re.finditer(r"^\s+(\w+)(?:\s*\([^)]*\))?:\s*(.+)$", section.group(1), re.M):
            params.setdefault(match.group(1), match.group(2).strip())
    return description, params


def function_tool(function: Callable[..., Any]) -> dict[str, Any]:
    """The ``tools`` entry for ``function``."""
    hints = typing.get_type_hints(function)
    description, docs = _docstring_parts(function.__doc__ or "")
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, parameter in inspect.signature(function).parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        schema = json_type(hints.get(name, str))
        if name in docs:
            schema["description"] = docs[name]
        properties[name] = schema
        optional = typing.get_origin(hints.get(name)) in (typing.Union, types.UnionType) and (
            type(None) in typing.get_args(hints.get(name))
        )
        if parameter.default is inspect.Parameter.empty and not optional:
            required.append(name)
    spec: dict[str, Any] = {
        "name": function.__name__,
        "parameters": {"type": "object", "properties": properties, "required": required},
    }
    if description:
        spec["description"] = description
    return {"type": "function", "function": spec}


@dataclass(frozen=True)
class CallResult:
    """What one function call returned, as the string the model is told."""

    call_id: str
    name: str
    output: str
    error: str | None = None
    """Set when the function raised: the learner sees it, the model gets it as the output."""


def call_function(
    functions: Mapping[str, Callable[..., Any]], call_id: str, name: str, arguments: str
) -> CallResult:
    """Run one call; whatever happens, return an output the run can continue with."""
    function = functions.get(name)
    if function is None:
        error = f"no function named {name!r} was given with --functions"
        return CallResult(call_id, name, json.dumps({"error": error}), error)
    try:
        parsed = json.loads(arguments or "{}")
        if not isinstance(parsed, dict):
            raise ValueError(f"arguments are not a JSON object: {arguments!r}")
        value = function(**parsed)
    except Exception as exc:
        error = f"{name}({arguments}) raised {type(exc).__name__}: {exc}"
        return CallResult(call_id, name, json.dumps({"error": error}), error)
    output = value if isinstance(value, str) else json.dumps(value, default=str)
    return CallResult(call_id, name, output)
