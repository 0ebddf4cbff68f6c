"""``/v1`` runs: router, protocol, service."""
