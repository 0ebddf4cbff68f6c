"""``/v1/threads``: router, protocol, service."""
