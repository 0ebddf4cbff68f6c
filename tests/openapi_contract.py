"""Check what the server sends against OpenAI's published OpenAPI description.

The reference file (``tests/reference``) writes optional values the OpenAPI
3.0 way (``nullable: true``), which JSON Schema validators ignore; they are
rewritten to JSON Schema's ``null`` type before validating. Payloads are read
off the wire (raw JSON), not after the SDK has parsed and forgiven them.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

REFERENCE = Path(__file__).parent / "reference" / "openai-assistants-v2.openapi.json"


def _with_nulls(node: Any) -> Any:
    if isinstance(node, list):
        return [_with_nulls(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _with_nulls(value) for key, value in node.items()}
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


@cache
def _document() -> dict[str, Any]:
    return _with_nulls(json.loads(REFERENCE.read_text()))


def response_schema(method: str, path: str, media: str = "application/json") -> dict[str, Any]:
    """The 200 response schema of ``method path`` (a path template of the reference)."""
    operation = _document()["paths"][path][method.lower()]
    return operation["responses"]["200"]["content"][media]["schema"]


def assert_valid(schema: dict[str, Any], payload: Any) -> None:
    """Fail with the validator's own explanation when ``payload`` breaks ``schema``."""
    rooted = {**copy.deepcopy(schema), "components": _document()["components"]}
    jsonschema.Draft202012Validator(rooted).validate(payload)


def assert_response(method: str, path: str, payload: Any, media: str = "application/json") -> None:
    assert_valid(response_schema(method, path, media), payload)


def assert_component(name: str, payload: Any) -> None:
    assert_valid({"$ref": f"#/components/schemas/{name}"}, payload)
