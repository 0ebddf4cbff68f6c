"""``/v1/files``: router, protocol, service."""
