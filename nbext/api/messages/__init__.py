"""``/v1`` messages: router, protocol, service."""
