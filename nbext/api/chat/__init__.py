"""``/v1`` chat: router, protocol, service."""
