"""Schemathesis hooks: the checks of our own that the fuzzer runs on every response.

Loaded by the ``schemathesis`` process through ``SCHEMATHESIS_HOOKS`` (a file
path), so it imports nothing from the project.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis

ERROR_KEYS = {"message", "type", "param", "code"}


@schemathesis.check
def openai_error_shape(ctx: Any, response: Any, case: Any) -> None:
    """Every 4xx/5xx is ``{"error": {"message", "type", "param", "code"}}``, as OpenAI sends it.

    The published contract documents only the 200 answers, so schemathesis
    alone would let any error body through.
    """
    if response.status_code < 400:
        return
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"error body is not JSON: {response.content[:200]!r}") from None
    assert isinstance(body, dict) and set(body) == {"error"}, f"not {{'error': ...}}: {body}"
    error = body["error"]
    assert isinstance(error, dict) and set(error) == ERROR_KEYS, f"error keys: {error}"
    assert isinstance(error["message"], str) and error["message"], f"no message: {error}"
    assert isinstance(error["type"], str) and error["type"], f"no type: {error}"
    for key in ("param", "code"):
        assert error[key] is None or isinstance(error[key], str), f"{key} not a string: {error}"
