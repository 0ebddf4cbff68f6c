"""``/v1/chat/completions`` and ``/v1/models``: router and protocol (the backend is the service)."""
