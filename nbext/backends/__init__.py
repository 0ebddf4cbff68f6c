"""Chat Completions providers, chosen by configuration, never by code edits."""

from __future__ import annotations

from nbext.backends.base import ChatBackend
from nbext.config import Settings


def backend_from_settings(settings: Settings) -> ChatBackend:
    """The embedded model unless ``NBEXT_BACKEND_URL`` names an endpoint.

    ``settings.model`` is the endpoint's model for a remote backend, and which
    catalogue model to serve for the embedded one (``None``: the default)."""
    if settings.backend_url:
        from nbext.backends.remote import RemoteBackend

        return RemoteBackend(
            settings.backend_url,
            settings.backend_key,
            settings.model,
            model_dir=settings.model_dir,
        )
    # Imported here so that pointing at a remote endpoint loads no model (llama.cpp
    # itself only to count tokens, when the endpoint serves a catalogue model).
    from nbext.backends.embedded import EmbeddedBackend

    return EmbeddedBackend(
        settings.model_dir,
        model=settings.model,
        threads=settings.threads,
        prefix_cache_bytes=settings.prefix_cache_bytes,
    )
