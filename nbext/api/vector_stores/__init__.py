"""``/v1`` vector stores: router, protocol, service."""
