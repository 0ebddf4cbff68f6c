"""A tiny vocabulary for checking request bodies, with OpenAI's error wording.

Each check is a function ``(value, param) -> value`` that raises a 400
naming the offending ``param`` (``tools[3].function.name``), the way OpenAI
does, so a learner's ``BadRequestError`` reads the same against this server
as it did against the hosted API. ``requests.py`` composes these into the
contract of each endpoint.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from nbext.errors import APIError, invalid, unknown_parameter

Check = Callable[[Any, str], Any]


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _wrong_type(param: str, expected: str, value: Any) -> APIError:
    return invalid(
        f"Invalid type for '{param}': expected {expected}, but got {_kind(value)} instead.",
        param=param,
        code="invalid_type",
    )


def invalid_choice(
    param: str, value: Any, allowed: Sequence[str], *, lead: str = "Supported values are"
) -> APIError:
    """``Invalid value for 'param': 'value'. Supported values are: 'a', 'b'.``"""
    return invalid(
        f"Invalid value for '{param}': '{value}'. {lead}: "
        + ", ".join(f"'{a}'" for a in allowed)
        + ".",
        param,
        "invalid_value",
    )


def _join(options: Sequence[str]) -> str:
    quoted = [f"'{o}'" for o in options]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + f", and {quoted[-1]}"


# What RFC 3986 lets a URI hold (unreserved, reserved, percent escapes).
_URI_TEXT = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")


def _is_web_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- raises on a port that is not a number
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and bool(_URI_TEXT.fullmatch(value))
    )


def string(
    *, max_length: int | None = None, enum: Sequence[str] | None = None, url: bool = False
) -> Check:
    """A string; ``url``: an http(s) URL (the schema's ``format: uri``)."""

    def check(value: Any, param: str) -> str:
        if not isinstance(value, str):
            raise _wrong_type(param, "a string", value)
        if url and not _is_web_url(value):
            raise invalid(
                f"Invalid '{param}': Expected a valid URL, but got a value with an invalid format.",
                param=param,
                code="invalid_value",
            )
        if enum is not None and value not in enum:
            raise invalid(
                f"Invalid value: '{value}'. Supported values are: {_join(enum)}.",
                param=param,
                code="invalid_value",
            )
        if max_length is not None and len(value) > max_length:
            raise invalid(
                f"Invalid '{param}': string too long. Expected a string with maximum length "
                f"{max_length}, but got a string with length {len(value)} instead.",
                param=param,
                code="string_above_max_length",
            )
        return value

    return check


def _bounds(
    value: float, param: str, minimum: float | None, maximum: float | None, noun: str
) -> None:
    if minimum is not None and value < minimum:
        raise invalid(
            f"Invalid '{param}': {noun} below minimum value. "
            f"Expected a value >= {minimum}, but got {value} instead.",
            param=param,
            code=f"{noun}_below_min_value",
        )
    if maximum is not None and value > maximum:
        raise invalid(
            f"Invalid '{param}': {noun} above maximum value. "
            f"Expected a value <= {maximum}, but got {value} instead.",
            param=param,
            code=f"{noun}_above_max_value",
        )


def integer(*, minimum: int | None = None, maximum: int | None = None) -> Check:
    def check(value: Any, param: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _wrong_type(param, "an integer", value)
        _bounds(value, param, minimum, maximum, "integer")
        return value

    return check


def number(*, minimum: float | None = None, maximum: float | None = None) -> Check:
    def check(value: Any, param: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _wrong_type(param, "a decimal", value)
        _bounds(value, param, minimum, maximum, "decimal")
        return value

    return check


def boolean() -> Check:
    def check(value: Any, param: str) -> bool:
        if not isinstance(value, bool):
            raise _wrong_type(param, "a boolean", value)
        return value

    return check


def nullable(inner: Check) -> Check:
    def check(value: Any, param: str) -> Any:
        return None if value is None else inner(value, param)

    return check


def array(items: Check, *, max_items: int | None = None, min_items: int | None = None) -> Check:
    def check(value: Any, param: str) -> list[Any]:
        if not isinstance(value, list):
            raise _wrong_type(param, "an array", value)
        if max_items is not None and len(value) > max_items:
            raise invalid(
                f"Invalid '{param}': array too long. Expected an array with maximum length "
                f"{max_items}, but got an array with length {len(value)} instead.",
                param=param,
                code="array_above_max_length",
            )
        if min_items is not None and len(value) < min_items:
            raise invalid(
                f"Invalid '{param}': empty array. Expected an array with minimum length "
                f"{min_items}, but got an array with length {len(value)} instead.",
                param=param,
                code="empty_array" if min_items == 1 else "array_below_min_length",
            )
        return [items(item, f"{param}[{i}]") for i, item in enumerate(value)]

    return check


def obj(fields: Mapping[str, Check], *, required: Sequence[str] = ()) -> Check:
    """An object with exactly these fields: unknown ones are refused, not ignored."""

    def check(value: Any, param: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _wrong_type(param, "an object", value)
        prefix = f"{param}." if param else ""
        for key in value:
            if key not in fields:
                raise unknown_parameter(f"{prefix}{key}")
        for key in required:
            if key not in value:
                raise invalid(
                    f"Missing required parameter: '{prefix}{key}'.",
                    param=f"{prefix}{key}",
                    code="missing_required_parameter",
                )
        return {key: fields[key](item, f"{prefix}{key}") for key, item in value.items()}

    return check


def any_object() -> Check:
    """A free-form JSON object (a function's JSON Schema), checked only for being one."""

    def check(value: Any, param: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _wrong_type(param, "an object", value)
        return value

    return check


def tagged(variants: Mapping[str, Check]) -> Check:
    """Objects told apart by their ``type`` field (tools, content parts)."""
    discriminator = string(enum=list(variants))

    def check(value: Any, param: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _wrong_type(param, "an object", value)
        if "type" not in value:
            raise invalid(
                f"Missing required parameter: '{param}.type'.",
                param=f"{param}.type",
                code="missing_required_parameter",
            )
        kind = discriminator(value["type"], f"{param}.type")
        result: dict[str, Any] = variants[kind](value, param)
        return result

    return check


def by_type(variants: Mapping[type, Check], expected: str) -> Check:
    """A parameter that may be, e.g., a string *or* an object (``tool_choice``)."""

    def check(value: Any, param: str) -> Any:
        for python_type, inner in variants.items():
            if isinstance(value, python_type):
                return inner(value, param)
        raise _wrong_type(param, expected, value)

    return check


def unsupported(inner: Check, reason: str, *, accepted: tuple[Any, ...] = (None,)) -> Check:
    """A documented parameter this server cannot honour: checked as the API checks it,
    then refused with OpenAI's 400 instead of being ignored.

    Only the ``accepted`` values (those that ask for nothing, e.g. ``null`` or
    ``false``) pass; the code is ``unsupported_parameter``, or ``unsupported_value``
    when some value besides ``null`` passes.
    """

    def check(value: Any, param: str) -> Any:
        value = inner(value, param)
        if any(value is ok or (value == ok and type(value) is type(ok)) for ok in accepted):
            return value
        if len(accepted) > 1:
            raise invalid(
                f"Unsupported value: '{param}' does not support {value!r} on this server: "
                f"{reason}.",
                param=param,
                code="unsupported_value",
            )
        raise invalid(
            f"Unsupported parameter: '{param}' is not supported on this server: {reason}.",
            param=param,
            code="unsupported_parameter",
        )

    return check


def metadata() -> Check:
    """Up to 16 string pairs, keys up to 64 characters, values up to 512."""
    key_check = string(max_length=64)
    value_check = string(max_length=512)

    def check(value: Any, param: str) -> dict[str, str] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise _wrong_type(param, "an object", value)
        if len(value) > 16:
            raise invalid(
                f"Invalid '{param}': too many properties. Expected an object with at most 16 "
                f"properties, but got an object with {len(value)} properties instead.",
                param=param,
                code="object_above_max_size",
            )
        for key, item in value.items():
            key_check(key, param)
            value_check(item, f"{param}.{key}")
        return dict(value)

    return check


def validate(body: Any, check: Check) -> dict[str, Any]:
    """Check a whole request body (a parsed JSON object)."""
    if not isinstance(body, dict):
        raise invalid(f"The request body must be a JSON object, not {_kind(body)}.")
    result: dict[str, Any] = check(body, "")
    return result
