"""``/v1/embeddings``: router, protocol, service."""
