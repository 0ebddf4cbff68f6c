"""Errors in OpenAI's vocabulary, raised anywhere below the HTTP layer.

The runtime and the backends raise :class:`APIError`; the server turns it into
``{"error": {...}}`` with the right status, and the magics turn it into one
short line. Keeping the shape here (not in ``nbext.server``) lets code with no
HTTP in it speak the same language as the wire.
"""

from __future__ import annotations

from typing import Any


class APIError(Exception):
    """A request that cannot be served, said the way OpenAI says it."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        """The JSON body OpenAI sends with an error status."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def invalid(message: str, param: str | None = None, code: str | None = None) -> APIError:
    """400: the request itself is wrong (bad value, unknown field, busy thread)."""
    return APIError(message, status=400, param=param, code=code)


def unknown_parameter(name: str, param: str | None = None) -> APIError:
    """400 for a name the contract does not have: ``Unknown parameter: 'name'.``"""
    return invalid(f"Unknown parameter: '{name}'.", param or name, "unknown_parameter")


def not_found(kind: str, object_id: str) -> APIError:
    """404 worded as OpenAI words it, e.g. ``No thread found with id 'thread_x'.``"""
    return APIError(f"No {kind} found with id '{object_id}'.", status=404, code=None)


class BackendError(APIError):
    """The model backend failed (unreachable, wrong key, unknown model).

    The message names the problem and the fix, because it is shown as is in a
    notebook cell and in ``last_error`` of a failed run.
    """

    def __init__(self, message: str, *, status: int = 502, code: str = "backend_error") -> None:
        super().__init__(message, status=status, type="server_error", code=code)
