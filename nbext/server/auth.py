"""Who is calling: the API key decides which objects a caller can see.

On 127.0.0.1 a single learner owns everything and no key is needed. A shared
workshop server is started with keys (``NBEXT_API_KEY``, comma-separated for a
room of participants); each key is then its own tenant.
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
    if not keys:
        owner = LOCAL_OWNER
    else:
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise APIError(
                "You didn't provide an API key. Send it as 'Authorization: Bearer KEY' "
                "(the openai client's api_key).",
                status=401,
                code="missing_api_key",
            )
        if not any(secrets.compare_digest(given, key) for key in keys):
            raise APIError(
                "Incorrect API key provided. Ask the workshop host for your key.",
                status=401,
                code="invalid_api_key",
            )
        owner = owner_of(given)
    request.state.owner = owner
    return owner
