"""Who is calling: the API key decides which objects a caller can see.

Three set-ups:
- a throwaway in-process server (tests): no key, one owner;
- the per-user local server (:mod:`nbext.local_server`): one random key that
  only its user can read, one owner; loopback is shared by every user of the
  machine, so the key is what keeps other users out;
- a shared workshop server (``NBEXT_API_KEY``, comma-separated for a room of
  participants): each key is its own tenant.
"""

from __future__ import annotations

import hashlib
import secrets

from fastapi import Request

from nbext.errors import APIError

LOCAL_OWNER = "local"


def owner_of(key: str) -> str:
    """A stable, non-secret name for a key, safe to store beside its objects."""
    return "key_" + hashlib.sha256(key.encode()).hexdigest()[:16]


def parse_keys(value: str | None) -> tuple[str, ...]:
    return tuple(key.strip() for key in (value or "").split(",") if key.strip())


async def require_owner(request: Request) -> str:
    """FastAPI dependency: the caller's owner id, or 401 when a key is wrong."""
    keys: tuple[str, ...] = request.app.state.api_keys
    local_key: str | None = request.app.state.local_key
    if not keys and not local_key:
        owner = LOCAL_OWNER
    else:
        given = _bearer(request)
        if local_key and _same(given, local_key):
            owner = LOCAL_OWNER
        elif any(_same(given, key) for key in keys):
            owner = owner_of(given)
        else:
            where = (
                "Ask the workshop host for your key."
                if keys
                else "This is another user's local nbext server; "
                "start your own with %load_ext nbext."
            )
            raise APIError(
                f"Incorrect API key provided. {where}", status=401, code="invalid_api_key"
            )
    request.state.owner = owner
    return owner


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise APIError(
            "You didn't provide an API key. Send it as 'Authorization: Bearer KEY' "
            "(the openai client's api_key).",
            status=401,
            code="missing_api_key",
        )
    return given


def _same(given: str, key: str) -> bool:
    # Bytes: compare_digest refuses str with non-ASCII characters (a TypeError,
    # which would be a 500 for a key like 'k\xe9').
    return secrets.compare_digest(given.encode("utf-8", "surrogateescape"), key.encode())
