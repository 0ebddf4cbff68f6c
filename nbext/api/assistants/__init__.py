"""``/v1/assistants``: router, protocol, service."""
