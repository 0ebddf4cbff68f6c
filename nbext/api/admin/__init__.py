"""``/v1`` admin: router, protocol, service."""
